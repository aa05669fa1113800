// Several runs side by side (?runs=a,b,c): their curves overlaid, a table of parameters and
// final metrics with the rows that differ marked (?diff=1: only those), and the diff of
// two runs' code snapshots (?a=&b=, the first two by default; ?file= one file's lines).
// Snapshots are content-addressed, so unchanged files are found by hash without reading them.
import { useEffect, useState } from 'preact/hooks';
import { diffLines } from 'diff';
import { getJson, request, runPath } from '../api.js';
import { html } from '../html.js';
import { setParams, runHref } from '../router.js';
import { StatusBadge } from '../components/status.js';
import { formatNumber } from '../format.js';
import { RunMetrics } from './run_metrics.js';
import { objectPath, snapshotFiles } from './run_files.js';

const kMaxDiffBytes = 1024 * 1024;

function useRuns(ids) {
  const [state, setState] = useState({ runs: null, error: null });
  useEffect(() => {
    Promise.all(ids.map(async (id) => {
      const [run, metrics] = await Promise.all([getJson(runPath(id)), getJson(runPath(id, '/metrics'))]);
      run.final = {};
      metrics.metrics.filter((m) => m.rank === 0 && m.kind === 'scalar').forEach((m) => { run.final[m.name] = m.last; });
      return run;
    }))
      .then((runs) => setState({ runs, error: null }))
      .catch((error) => setState({ runs: null, error }));
  }, [ids.join(',')]);
  return state;
}

function DiffTable({ runs, onlyDiffs }) {
  const paramNames = [...new Set(runs.flatMap((r) => (r.params || []).map((p) => p.name)))].sort();
  const metricNames = [...new Set(runs.flatMap((r) => Object.keys(r.final)))].sort();
  // A flag's value is null: shown as "(set)", so runs with and without it differ.
  const param = (run, name) => {
    const p = (run.params || []).find((x) => x.name === name);
    if (!p) return undefined;
    return p.value === null ? '(set)' : p.value;
  };
  const rows = [
    ...[['experiment', (r) => r.experiment], ['target', (r) => r.compute_target],
        ['ranks', (r) => ((r.spec || {}).node_count || 1) * ((r.spec || {}).process_count_per_node || 1)],
        ['snapshot', (r) => (r.snapshot_id || '').slice(0, 12)],
        ['environment', (r) => (r.spec || {}).environment_name || ((r.spec || {}).environment ? 'inline' : 'none')]]
      .map(([name, get]) => ({ group: 'Run', name, values: runs.map(get) })),
    ...paramNames.map((name) => ({ group: 'Parameter', name, values: runs.map((r) => param(r, name)) })),
    ...metricNames.map((name) => ({ group: 'Final metric', name, values: runs.map((r) => formatNumber(r.final[name])) })),
  ];
  const differs = (row) => new Set(row.values.map((v) => JSON.stringify(v ?? null))).size > 1;
  return html`
    <table class="data">
      <thead><tr><th scope="col">What</th><th scope="col">Name</th>
        ${runs.map((r) => html`<th scope="col"><a href=${runHref(r.id)}>${r.display_name || r.id}</a></th>`)}</tr></thead>
      <tbody>${rows.filter((row) => !onlyDiffs || differs(row)).map((row) => html`
        <tr class=${differs(row) ? 'diff' : ''} data-row=${row.name}>
          <td>${row.group}</td><th scope="row" class="mono">${row.name}${differs(row) ? ' ≠' : ''}</th>
          ${row.values.map((v) => html`<td class="mono">${v ?? ''}</td>`)}</tr>`)}
      </tbody>
    </table>`;
}

async function readText(sha256) {
  const response = await request(objectPath(sha256));
  return response.text();
}

function FileDiff({ before, after }) {
  const [parts, setParts] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setParts(null);
    if ((before && before.size > kMaxDiffBytes) || (after && after.size > kMaxDiffBytes)) {
      setError(`larger than ${kMaxDiffBytes / 1024} KiB: download both to compare`);
      return;
    }
    Promise.all([before ? readText(before.sha256) : '', after ? readText(after.sha256) : ''])
      .then(([a, b]) => setParts(diffLines(a, b)))
      .catch((e) => setError(e.message));
  }, [before && before.sha256, after && after.sha256]);
  if (error) return html`<p class="muted">${error}</p>`;
  if (!parts) return html`<p class="muted">Loading…</p>`;
  return html`<pre class="viewer mono" aria-label="line diff">${parts.map((part) => html`<span
    class=${part.added ? 'diff-line-add' : part.removed ? 'diff-line-del' : ''}>${part.value.split('\n')
      .filter((line, i, all) => i < all.length - 1 || line !== '')
      .map((line) => `${part.added ? '+' : part.removed ? '-' : ' '} ${line}\n`).join('')}</span>`)}</pre>`;
}

function CodeDiff({ a, b, params }) {
  const [files, setFiles] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!a.snapshot_id || !b.snapshot_id) return;
    Promise.all([snapshotFiles(a.snapshot_id), snapshotFiles(b.snapshot_id)])
      .then(([left, right]) => setFiles({ left: new Map(left.map((f) => [f.path, f])), right: new Map(right.map((f) => [f.path, f])) }))
      .catch((e) => setError(e.message));
  }, [a.snapshot_id, b.snapshot_id]);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!files) return html`<p class="muted">Loading…</p>`;
  const paths = [...new Set([...files.left.keys(), ...files.right.keys()])].sort();
  const changes = paths.map((path) => {
    const l = files.left.get(path);
    const r = files.right.get(path);
    const kind = !l ? 'added' : !r ? 'removed' : l.sha256 !== r.sha256 ? 'changed' : 'same';
    return { path, kind, l, r };
  });
  const changed = changes.filter((c) => c.kind !== 'same');
  const chosen = changed.find((c) => c.path === params.get('file')) || changed[0];
  if (a.snapshot_id === b.snapshot_id) return html`<p>Both ran the same snapshot: the code is identical.</p>`;
  return html`
    <p>${changed.length} of ${paths.length} files differ; ${paths.length - changed.length} are the same (same content hash).</p>
    ${changed.length > 0 && html`
      <div class="files">
        <ul class="tree" aria-label="Changed files">${changed.map((c) => html`
          <li><button class="link" aria-current=${chosen && chosen.path === c.path ? 'true' : undefined}
                onClick=${() => setParams({ file: c.path })}>${c.path}</button> <span class="muted">${c.kind}</span></li>`)}
        </ul>
        ${chosen && html`<${FileDiff} key=${chosen.path} before=${chosen.l} after=${chosen.r} />`}
      </div>`}`;
}

export function ComparePage({ params }) {
  const ids = (params.get('runs') || '').split(',').filter(Boolean);
  const { runs, error } = useRuns(ids);
  if (ids.length < 1) {
    return html`<main id="main" class="page"><h1>Compare</h1>
      <p>Mark runs in the <a href="/runs">runs list</a> (x, or their checkbox), then Compare.</p></main>`;
  }
  if (error) return html`<main id="main" class="page"><h1>Compare</h1><p class="error" role="alert">${error.message}</p></main>`;
  if (!runs) return html`<main id="main" class="page"><h1>Compare</h1><p class="muted">Loading…</p></main>`;
  const a = runs.find((r) => r.id === params.get('a')) || runs[0];
  const b = runs.find((r) => r.id === params.get('b')) || runs.find((r) => r !== a) || a;
  const pick = (key, value) => setParams({ [key]: value, file: null });
  return html`
    <main id="main" class="page">
      <h1>Compare ${runs.length} runs</h1>
      <ul class="row plain" aria-label="Runs compared">${runs.map((r) => html`
        <li><a href=${runHref(r.id)}>${r.display_name || r.id}</a> <${StatusBadge} status=${r.status} />
          <button class="link" aria-label=${`remove ${r.id}`}
            onClick=${() => setParams({ runs: ids.filter((x) => x !== r.id).join(',') })}>remove</button></li>`)}
      </ul>
      <section aria-label="Parameters and final metrics">
        <h2>Parameters and final metrics</h2>
        <label><input type="checkbox" checked=${params.get('diff') === '1'}
          onChange=${(e) => setParams({ diff: e.target.checked ? '1' : null })} /> only what differs</label>
        <${DiffTable} runs=${runs} onlyDiffs=${params.get('diff') === '1'} />
      </section>
      <section aria-label="Curves">
        <h2>Curves</h2>
        <${RunMetrics} runs=${runs} params=${params} />
      </section>
      ${runs.length >= 2 && html`
        <section aria-label="Code">
          <h2>Code: <label><select aria-label="first run" value=${a.id} onChange=${(e) => pick('a', e.target.value)}>
              ${runs.map((r) => html`<option value=${r.id}>${r.display_name || r.id}</option>`)}</select></label>
            against <label><select aria-label="second run" value=${b.id} onChange=${(e) => pick('b', e.target.value)}>
              ${runs.map((r) => html`<option value=${r.id}>${r.display_name || r.id}</option>`)}</select></label></h2>
          <${CodeDiff} a=${a} b=${b} params=${params} />
        </section>`}
    </main>`;
}
