// How the UI writes times, durations, sizes and numbers.

export function parseTime(text) {
  return text ? Date.parse(text) : null;
}

// "2026-12-07 14:03:22" in the viewer's time zone.
export function formatTime(text) {
  const ms = typeof text === 'number' ? text : parseTime(text);
  if (ms === null || Number.isNaN(ms)) return '-';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "1h 02m", "3m 04s", "850 ms".
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function runDuration(run, now = Date.now()) {
  const start = parseTime(run.started_at);
  if (start === null) return null;
  const end = parseTime(run.ended_at) ?? now;
  return end - start;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

// Numbers as the API sends them (NaN and infinities are strings) for a table cell.
export function formatNumber(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

export function toNumber(value) {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return Number(value);
}

export const kTerminal = new Set(['Completed', 'Failed', 'Canceled']);

// The run's world size from its stored spec.
export function rankCount(run) {
  const spec = run.spec || {};
  return (spec.node_count || 1) * (spec.process_count_per_node || 1);
}

// What a run's failure was, in one line: its reason, else its exit code.
export function failureCause(run) {
  if (run.status !== 'Failed') return '';
  return run.failure_reason || (run.exit_code !== null ? `exit code ${run.exit_code}` : 'failed');
}
