// A sweep: its trials ranked by the primary metric with their parameters, status and stop
// reason; parallel coordinates with brushing (?brush=), a parameter-against-metric scatter
// (?x=), and every trial's curve of the primary metric, stopped trials dashed.
import { useMemo } from 'preact/hooks';
import { getJson, runPath } from '../api.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { setParams, runHref } from '../router.js';
import { StatusBadge } from '../components/status.js';
import { MetricChart } from '../components/chart.js';
import { ParallelCoordinates, Scatter, makeAxis } from '../components/parallel.js';
import { formatNumber, kTerminal, toNumber } from '../format.js';
import { cancelRun } from './run.js';
import { canChangeRuns } from './run_edit.js';

// Curves on one chart at most (one read of the server's, which takes 256 series).
const kMaxCurves = 64;

// Blue (worst) to orange (best), as t goes 0..1.
function colorFor(t) {
  if (t === null || Number.isNaN(t)) return '#8c959f';
  const a = [31, 111, 235];
  const b = [251, 133, 0];
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function parseBrushes(text) {
  const out = {};
  for (const part of (text || '').split(';').filter(Boolean)) {
    const [i, lo, hi] = part.split(':').map(Number);
    if ([i, lo, hi].every(Number.isFinite)) out[i] = [lo, hi];
  }
  return out;
}

function brushText(brushes) {
  return Object.entries(brushes).map(([i, [lo, hi]]) => `${i}:${lo.toFixed(3)}:${hi.toFixed(3)}`).join(';');
}

export function SweepPage({ id, params, me }) {
  const { data, error, reload } = usePoll(async () => {
    const [sweep, trials] = await Promise.all([getJson(runPath(id)), getJson(runPath(id, '/trials'))]);
    return { sweep, trials: trials.trials };
  }, 4000, [id]);
  const brushes = parseBrushes(params.get('brush'));

  const view = useMemo(() => {
    if (!data) return null;
    const spec = data.sweep.spec || {};
    const objective = spec.objective || {};
    const goal = objective.goal === 'minimize' ? 'minimize' : 'maximize';
    const metric = objective.primary_metric || 'metric';
    const names = [...new Set(data.trials.flatMap((t) => Object.keys(t.params || {})))].sort();
    const best = (t) => (t.best === null ? null : toNumber(t.best));
    const ranked = data.trials.slice().sort((a, b) => {
      const x = best(a);
      const y = best(b);
      if (x === null && y === null) return a.index - b.index;
      if (x === null) return 1;
      if (y === null) return -1;
      return goal === 'maximize' ? y - x : x - y;
    });
    const values = data.trials.map(best).filter((v) => v !== null && Number.isFinite(v));
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const t = (v) => (v === null || !values.length ? null : hi === lo ? 1 : goal === 'maximize' ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo));
    const axes = [...names.map((n) => makeAxis(n, data.trials.map((tr) => (tr.params || {})[n]))),
                  makeAxis(metric, data.trials.map(best))];
    const rows = data.trials.map((tr) => ({ id: tr.run_id, values: [...names.map((n) => (tr.params || {})[n]), best(tr)],
                                            color: colorFor(t(best(tr))) }));
    return { spec, goal, metric, names, ranked, axes, rows, best, t };
  }, [data]);

  if (!view) {
    return html`<main id="main" class="page">${error ? html`<p class="error" role="alert">${error.message}</p>` : html`<p class="muted">Loading…</p>`}</main>`;
  }
  const { sweep } = data;
  const inBrush = (row) => Object.entries(brushes).every(([i, [lo, hi]]) => {
    const axis = view.axes[i];
    if (!axis) return true;
    const t = axis.pos(row.values[i]);
    return t !== null && t >= lo - 1e-3 && t <= hi + 1e-3;
  });
  const kept = new Set(view.rows.filter(inBrush).map((r) => r.id));
  const xName = params.get('x') && view.names.includes(params.get('x')) ? params.get('x') : view.names[0];
  const limits = view.spec.limits || {};

  return html`
    <main id="main" class="page">
      <div class="row">
        <h1 class="grow">Sweep ${sweep.display_name || sweep.id} <${StatusBadge} status=${sweep.status} /></h1>
        ${!kTerminal.has(sweep.status) && canChangeRuns(me) && html`
          <button class="danger" onClick=${async () => {
            if (!confirm(`Cancel sweep ${sweep.id} and its trials?`)) return;
            try { await cancelRun(sweep.id); } catch (e) { alert(e.message); }
            reload();
          }}>Cancel sweep</button>`}
      </div>
      <p>
        ${view.goal} <strong>${view.metric}</strong>${' · '}${[
          `${data.trials.length} trials${limits.max_total_trials ? ` of at most ${limits.max_total_trials}` : ''}` +
            (limits.max_concurrent_trials ? `, ${limits.max_concurrent_trials} at a time` : ''),
          `sampling ${(view.spec.sampling || {}).type || '?'}`,
          `early termination ${(view.spec.early_termination && view.spec.early_termination.type) || 'none'}`,
        ].join(' · ')}${' · '}<a href=${runHref(sweep.id, 'logs')}>driver log</a>
      </p>
      <section aria-label="Trials">
        <h2>Trials, best first</h2>
        <table class="data">
          <thead><tr>
            <th scope="col">#</th><th scope="col">Trial</th><th scope="col">Status</th>
            ${view.names.map((n) => html`<th scope="col" class="mono">${n}</th>`)}
            <th scope="col">${view.metric} (best)</th><th scope="col">Intervals</th><th scope="col">Stop reason</th>
          </tr></thead>
          <tbody>${view.ranked.map((tr) => html`
            <tr class=${kept.has(tr.run_id) ? '' : 'muted'} data-trial=${tr.index}>
              <td>${tr.index}</td>
              <td><a href=${runHref(tr.run_id)}>${tr.run_id}</a></td>
              <td><${StatusBadge} status=${tr.status} /></td>
              ${view.names.map((n) => html`<td class="num mono">${formatNumber((tr.params || {})[n])}</td>`)}
              <td class="num">${formatNumber(tr.best)}</td>
              <td class="num">${tr.intervals}</td>
              <td>${tr.stop_reason || ''}</td>
            </tr>`)}
          </tbody>
        </table>
      </section>
      ${data.trials.length > 0 && html`
        <section aria-label="Parallel coordinates">
          <h2>Parameters and ${view.metric}</h2>
          <p class="hint">Drag along an axis to keep the trials in that range; click an axis to clear it.
            ${Object.keys(brushes).length > 0 && html` <button class="link" onClick=${() => setParams({ brush: null })}>Clear all</button>`}
            ${kept.size} of ${view.rows.length} kept.</p>
          <${ParallelCoordinates} axes=${view.axes} rows=${view.rows} brushes=${brushes}
            onBrush=${(next) => setParams({ brush: brushText(next) || null })}
            label=${`parallel coordinates of ${view.names.join(', ')} and ${view.metric}; the trials table has the same values`} />
        </section>
        <div class="split">
          <section aria-label="Scatter">
            <h2><label>${view.metric} against <select value=${xName} onChange=${(e) => setParams({ x: e.target.value })}>
              ${view.names.map((n) => html`<option value=${n}>${n}</option>`)}</select></label></h2>
            <${Scatter} xLabel=${xName} yLabel=${view.metric} label=${`${view.metric} against ${xName}`}
              points=${data.trials.filter((tr) => kept.has(tr.run_id)).map((tr) => ({
                x: (tr.params || {})[xName], y: view.best(tr), color: colorFor(view.t(view.best(tr))) }))} />
          </section>
          <section aria-label="Curves">
            <h2>${view.metric} of every trial</h2>
            <p class="hint">Dashed: stopped early by the policy.</p>
            ${kept.size > kMaxCurves && html`<p class="hint">The ${kMaxCurves} best of the ${kept.size} kept trials: brush the parallel coordinates to choose others.</p>`}
            <${MetricChart} id="trials" live=${!kTerminal.has(sweep.status)}
              lines=${view.ranked.filter((tr) => kept.has(tr.run_id)).slice(0, kMaxCurves).map((tr) => ({
              run: tr.run_id, name: view.metric, dash: !!tr.stop_reason,
              color: colorFor(view.t(view.best(tr))),
              label: `trial ${tr.index}${tr.stop_reason ? ' (stopped)' : ''}` }))} />
          </section>
        </div>`}
    </main>`;
}
