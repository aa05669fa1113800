// Metric charts of one run or several (Compare): a chart per metric name with a line per
// run, or the chosen names on one chart. Controls, all in the URL: ?ax=step|time, ?sm=
// smoothing weight, ?log=1, ?m=names shown, ?one=1 (one chart). Charts mount only when
// near the viewport, so a run with a hundred metrics opens as fast as one with two.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, runPath } from '../api.js';
import { html } from '../html.js';
import { setParams } from '../router.js';
import { MetricChart } from '../components/chart.js';
import { kTerminal } from '../format.js';

function Lazy({ children, height }) {
  const box = useRef(null);
  const [near, setNear] = useState(false);
  useEffect(() => {
    const observer = new IntersectionObserver(([entry]) => {
      if (entry.isIntersecting) setNear(true);
    }, { rootMargin: '400px' });
    observer.observe(box.current);
    return () => observer.disconnect();
  }, []);
  return html`<div ref=${box} style=${{ minHeight: `${height}px` }}>${near ? children : null}</div>`;
}

export function RunMetrics({ runs, params }) {
  const [names, setNames] = useState(null);
  const [error, setError] = useState(null);
  const ids = runs.map((r) => r.id).join(',');
  const axis = params.get('ax') === 'time' ? 'time' : 'step';
  const smoothing = Math.min(0.99, Math.max(0, Number(params.get('sm') || 0)));
  const logY = params.get('log') === '1';
  const one = params.get('one') === '1';
  const chosen = params.get('m') ? params.get('m').split(',').filter(Boolean) : null;
  // The zoom, ?z=min:max on the x axis, shared by every chart of the page.
  const zoom = (params.get('z') || '').split(':').map(Number);
  const range = zoom.length === 2 && zoom.every(Number.isFinite) && zoom[0] < zoom[1] ? zoom : null;
  const onRange = (next) => setParams({ z: next ? `${+next[0].toPrecision(12)}:${+next[1].toPrecision(12)}` : null });

  useEffect(() => {
    Promise.all(runs.map((run) => getJson(runPath(run.id, '/metrics'))))
      .then((lists) => {
        const all = new Set();
        lists.forEach(({ metrics }) => metrics.forEach((m) => {
          if (m.kind === 'scalar' && m.rank === 0) all.add(m.name);
        }));
        setNames([...all].sort());
      })
      .catch((e) => setError(e.message));
  }, [ids, runs.map((r) => r.status).join(',')]);

  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!names) return html`<p class="muted">Loading…</p>`;
  if (!names.length) return html`<p class="muted">No metrics logged yet.</p>`;
  const shown = chosen ? names.filter((n) => chosen.includes(n)) : names;
  const live = runs.some((run) => !kTerminal.has(run.status));
  const label = (run, name) => (runs.length > 1 ? `${run.display_name || run.id} ${name}` : name);
  const toggle = (name) => {
    const next = new Set(chosen || names);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setParams({ m: next.size === names.length ? null : [...next].join(',') || '-' });
  };

  return html`
    <section aria-label="Metrics">
      <div class="chart-controls">
        <label>x axis <select value=${axis} onChange=${(e) => setParams({ ax: e.target.value === 'step' ? null : e.target.value, z: null })}>
          <option value="step">step</option><option value="time">time</option></select></label>
        <label>smoothing <input type="range" min="0" max="0.99" step="0.01" value=${smoothing}
          onChange=${(e) => setParams({ sm: Number(e.target.value) ? e.target.value : null })} /> ${smoothing.toFixed(2)}</label>
        <label><input type="checkbox" checked=${logY} onChange=${(e) => setParams({ log: e.target.checked ? '1' : null })} /> log scale</label>
        <label><input type="checkbox" checked=${one} onChange=${(e) => setParams({ one: e.target.checked ? '1' : null })} /> one chart</label>
        <details><summary>Metrics (${shown.length} of ${names.length})</summary>
          ${names.map((name) => html`<label class="block"><input type="checkbox" checked=${shown.includes(name)}
            onChange=${() => toggle(name)} /> ${name}</label>`)}
        </details>
        <span class="hint">Drag across a chart to zoom every chart in at full detail; double-click to zoom out.</span>
      </div>
      ${one
        ? html`<${MetricChart} id="all" live=${live} range=${range} onRange=${onRange} axis=${axis} smoothing=${smoothing} logY=${logY} height=${360}
                 lines=${runs.flatMap((run) => shown.map((name) => ({ run: run.id, name, label: label(run, name) })))} />`
        : html`<div class="charts">
            ${shown.map((name) => html`
              <${Lazy} key=${name} height=${300}>
                <h2 class="chart-title">${name}</h2>
                <${MetricChart} id=${name} live=${live} range=${range} onRange=${onRange} axis=${axis} smoothing=${smoothing} logY=${logY}
                  lines=${runs.map((run) => ({ run: run.id, name, label: label(run, name) }))} />
              </${Lazy}>`)}
          </div>`}
    </section>`;
}
