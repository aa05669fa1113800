// Compute targets: the local target's slots (used, free, who holds them, who waits and in
// what place) and each registered target, with the runs on it that have not ended and
// what their target says of them (Slurm's pending reason).
import { getJson, query } from '../api.js';
import { runHref } from '../router.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { StatusBadge } from '../components/status.js';

function ordinal(n) {
  const suffix = ['th', 'st', 'nd', 'rd'];
  const v = n % 100;
  return `${n}${suffix[(v - 20) % 10] || suffix[v] || suffix[0]}`;
}

function Slots({ kind, slots }) {
  if (!slots) return null;
  const free = Math.max(0, slots.capacity - slots.used);
  return html`
    <section class="card" aria-label=${`local ${kind}`}>
      <h3>${kind}: ${slots.capacity} ${slots.set === null ? '(this machine’s)' : '(set)'}</h3>
      <div class="row">
        <div class="bar" role="meter" aria-label=${`${kind} in use`} aria-valuemin="0"
             aria-valuemax=${slots.capacity} aria-valuenow=${slots.used}>
          <span style=${{ width: `${slots.capacity ? Math.min(100, (100 * slots.used) / slots.capacity) : 0}%` }}></span>
        </div>
        <span>${slots.used} used, ${free} free</span>
      </div>
      ${slots.holding.length > 0 && html`
        <h4>Holding</h4>
        <ul>${slots.holding.map((e) => html`<li><a href=${runHref(e.run_id)}>${e.run_id}</a>: ${e.slots} ${kind}</li>`)}</ul>`}
      ${slots.waiting.length > 0 && html`
        <h4>Waiting</h4>
        <ol>${slots.waiting.map((e, i) => html`
          <li><a href=${runHref(e.run_id)}>${e.run_id}</a>: needs ${e.slots} ${kind}, ${ordinal(i + 1)} in line${
            e.slots > free ? `, ${free} of ${slots.capacity} free` : ''}</li>`)}</ol>`}
    </section>`;
}

function ActiveRuns({ runs }) {
  if (!runs.length) return html`<p class="muted">No run here is queued or running.</p>`;
  return html`
    <table class="data">
      <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">What the target says</th></tr></thead>
      <tbody>${runs.map((run) => html`
        <tr><td><a href=${runHref(run.id)}>${run.display_name || run.id}</a></td>
            <td><${StatusBadge} status=${run.status} /></td><td>${run.target_detail || ''}</td></tr>`)}
      </tbody>
    </table>`;
}

export function ComputePage() {
  const { data, error } = usePoll(async () => {
    const [targets, local, active] = await Promise.all([
      getJson('/v1/compute-targets'),
      getJson('/v1/compute-targets/local'),
      getJson(`/v1/runs${query({ active: 'true' })}`),
    ]);
    return { targets: targets.compute_targets, local, active: active.runs };
  }, 5000, []);
  if (!data) {
    return html`<main id="main" class="page"><h1>Compute</h1>
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : html`<p class="muted">Loading…</p>`}</main>`;
  }
  const on = (name) => data.active.filter((run) => run.compute_target === name);
  return html`
    <main id="main" class="page">
      <h1>Compute</h1>
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      <h2>local <span class="muted">(the server’s machine, built in)</span></h2>
      <div class="split">
        <${Slots} kind="cores" slots=${data.local.cores} />
        <${Slots} kind="gpus" slots=${data.local.gpus} />
      </div>
      <h3>Runs on local</h3>
      <${ActiveRuns} runs=${on('local')} />
      ${data.targets.map((target) => html`
        <section aria-label=${`target ${target.name}`}>
          <h2>${target.name} <span class="muted">(${target.type})</span></h2>
          <dl class="facts">
            ${Object.entries(target.config || {}).map(([key, value]) => html`
              <dt>${key}</dt><dd class="mono">${typeof value === 'string' ? value : JSON.stringify(value)}</dd>`)}
          </dl>
          <h3>Runs on ${target.name}</h3>
          <${ActiveRuns} runs=${on(target.name)} />
        </section>`)}
    </main>`;
}
