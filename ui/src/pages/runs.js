// Every run in one virtualized table: filters, sorting, chosen parameter and metric
// columns, sweeps with their trials beneath them, archived runs only when asked for
// (marked "Archived"). All of it is in the URL:
//   ?experiment= &status= &target= &tag=key=value &q=text &archived=any &sort=column
//   &dir=asc|desc &cols=p:--lr,m:loss &open=<sweep ids> &sel=<run ids to compare>
// Keys: j/k move, Enter opens, x marks for comparing, / searches. A line another page left
// (notice.js: a run deleted) shows above the table, once, with focus on it.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { takeNotice } from '../notice.js';
import { navigate, setParams, runHref } from '../router.js';
import { useAllRuns } from '../runs_data.js';
import { StatusBadge } from '../components/status.js';
import { VirtualList } from '../components/virtual_list.js';
import { failureCause, formatDuration, formatNumber, formatTime, runDuration, toNumber } from '../format.js';

const kRowHeight = 32;

// The failure cause comes early: at 1024 px it is still in view.
const kBaseColumns = [
  { key: 'pick', label: 'Compare', width: 76, sortable: false },
  { key: 'status', label: 'Status', width: 124, value: (r) => r.status },
  { key: 'name', label: 'Run', width: 260, value: (r) => r.display_name || r.id },
  { key: 'cause', label: 'Failure cause', width: 240, value: (r) => failureCause(r) },
  { key: 'experiment', label: 'Experiment', width: 130, value: (r) => r.experiment },
  { key: 'target', label: 'Target', width: 90, value: (r) => r.compute_target },
  { key: 'created', label: 'Submitted', width: 150, value: (r) => r.created_at },
  { key: 'duration', label: 'Duration', width: 90, value: (r) => runDuration(r) ?? -1 },
];

function paramValue(run, name) {
  const param = (run.params || []).find((p) => p.name === name);
  return param ? param.value : undefined;
}

function extraColumn(spec) {
  const [kind, ...rest] = spec.split(':');
  const name = rest.join(':');
  if (kind === 'p') {
    return { key: spec, label: name, width: 110, value: (r) => paramValue(r, name), numeric: true };
  }
  return { key: spec, label: name, width: 110, value: (r) => (r.metrics || {})[name], numeric: true, metric: true };
}

// Empty last; numbers (and numeric text) by value; other text by code point, which is
// what ISO times and run ids need, and fast enough to sort 10,000 rows in a frame.
function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null || a === '') return 1;
  if (b === undefined || b === null || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = toNumber(a);
  const y = toNumber(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  const s = String(a);
  const t = String(b);
  return s < t ? -1 : s > t ? 1 : 0;
}

function matchesText(run, text) {
  const haystack = [run.id, run.display_name, run.experiment, run.compute_target, run.submitted_by,
    run.status, failureCause(run), run.description,
    ...Object.entries(run.tags || {}).map(([k, v]) => `${k}=${v}`),
    ...(run.params || []).map((p) => `${p.name} ${p.value}`)].join('\n').toLowerCase();
  return text.toLowerCase().split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
}

export function RunsPage({ params }) {
  const withArchived = params.get('archived') === 'any';
  const { runs, loading, error } = useAllRuns({ withArchived });
  const experiment = params.get('experiment') || '';
  const status = params.get('status') || '';
  const target = params.get('target') || '';
  const tag = params.get('tag') || '';
  const text = params.get('q') || '';
  const sort = params.get('sort') || 'created';
  const dir = params.get('dir') || (sort === 'created' ? 'desc' : 'asc');
  const cols = (params.get('cols') || '').split(',').filter(Boolean);
  const open = new Set((params.get('open') || '').split(',').filter(Boolean));
  const picked = (params.get('sel') || '').split(',').filter(Boolean);
  const [cursor, setCursor] = useState(0);
  const [showColumns, setShowColumns] = useState(false);
  const [search, setSearch] = useState(text);
  const table = useRef(null);
  const [notice] = useState(takeNotice);
  const noticeLine = useRef(null);
  useLayoutEffect(() => noticeLine.current && noticeLine.current.focus(), []);

  useEffect(() => setSearch(text), [text]);

  const columns = useMemo(() => [...kBaseColumns, ...cols.map(extraColumn)], [params.get('cols')]);

  const choices = useMemo(() => {
    const experiments = new Set();
    const targets = new Set();
    const paramNames = new Set();
    const metricNames = new Set();
    for (const run of runs) {
      experiments.add(run.experiment);
      targets.add(run.compute_target);
      (run.params || []).forEach((p) => paramNames.add(p.name));
      Object.keys(run.metrics || {}).forEach((m) => metricNames.add(m));
    }
    return { experiments: [...experiments].sort(), targets: [...targets].sort(),
             params: [...paramNames].sort(), metrics: [...metricNames].sort() };
  }, [runs]);

  // The rows: runs that pass the filters, sorted; a sweep's trials follow it when it is
  // open, and are otherwise hidden unless a filter or search is on.
  const rows = useMemo(() => {
    const [tagKey, ...tagRest] = tag.split('=');
    const tagValue = tagRest.join('=');
    const filtering = experiment || status || target || tag || text;
    const pass = (run) =>
      (!experiment || run.experiment === experiment) &&
      (!status || run.status === status) &&
      (!target || run.compute_target === target) &&
      (!tag || ((run.tags || {})[tagKey] !== undefined && (!tagValue || run.tags[tagKey] === tagValue))) &&
      (!text || matchesText(run, text));
    const column = columns.find((c) => c.key === sort) || columns.find((c) => c.key === 'created');
    const order = (a, b) => {
      const c = compare(column.value(a), column.value(b));
      return dir === 'desc' ? -c : c;
    };
    const trialsOf = new Map();
    for (const run of runs) {
      if (!run.parent_id) continue;
      if (!trialsOf.has(run.parent_id)) trialsOf.set(run.parent_id, []);
      trialsOf.get(run.parent_id).push(run);
    }
    const tops = runs.filter((run) => (filtering ? pass(run) : !run.parent_id));
    tops.sort(order);
    const out = [];
    for (const run of tops) {
      out.push({ run, trial: !!run.parent_id, trials: (trialsOf.get(run.id) || []).length });
      if (!filtering && open.has(run.id)) {
        for (const trial of (trialsOf.get(run.id) || []).slice().sort(order)) out.push({ run: trial, trial: true, trials: 0 });
      }
    }
    return out;
  }, [runs, experiment, status, target, tag, text, sort, dir, columns, params.get('open')]);

  useEffect(() => {
    if (cursor >= rows.length) setCursor(Math.max(0, rows.length - 1));
  }, [rows.length]);

  const toggle = (list, id) => (list.includes(id) ? list.filter((x) => x !== id) : [...list, id]);
  const pick = (id) => setParams({ sel: toggle(picked, id).join(',') });
  const openRun = (run) => navigate(runHref(run));

  // j/k, Enter and x work anywhere on the page but in a field or a button.
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest('input, select, button, textarea, a')) return;
    if (event.key === 'j' || event.key === 'ArrowDown') setCursor((c) => Math.min(rows.length - 1, c + 1));
    else if (event.key === 'k' || event.key === 'ArrowUp') setCursor((c) => Math.max(0, c - 1));
    else if (event.key === 'Enter' && rows[cursor]) openRun(rows[cursor].run);
    else if (event.key === 'x' && rows[cursor]) pick(rows[cursor].run.id);
    else return;
    event.preventDefault();
  };

  const keys = useRef(onKey);
  keys.current = onKey;
  useEffect(() => {
    const listener = (event) => keys.current(event);
    document.addEventListener('keydown', listener);
    return () => document.removeEventListener('keydown', listener);
  }, []);

  const header = html`
    <div class="table-head" role="row" aria-rowindex="1">
      ${columns.map((c) => html`
        <div class="cell" role="columnheader" style=${{ width: `${c.width}px` }}
             aria-sort=${sort === c.key ? (dir === 'asc' ? 'ascending' : 'descending') : undefined}>
          ${c.sortable === false ? c.label : html`
            <button class="sort" onClick=${() => setParams({ sort: c.key, dir: sort === c.key && dir === 'asc' ? 'desc' : 'asc' })}>
              ${c.label}${sort === c.key ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}
            </button>`}
        </div>`)}
    </div>`;

  const renderRow = (index, box) => {
    const { run, trial, trials } = rows[index];
    return html`
      <div class=${`vrow${trial ? ' trial' : ''}${run.archived_at ? ' archived' : ''}`} role="row" key=${run.id}
           aria-rowindex=${index + 2}
           aria-selected=${index === cursor ? 'true' : 'false'} data-run=${run.id}
           style=${{ top: `${box.top}px`, height: `${box.height}px` }}
           onClick=${(e) => { if (!e.target.closest('a, input, button')) setCursor(index); }}>
        ${columns.map((c) => html`
          <div class=${`cell ${c.key}${c.key === 'cause' ? ' fail' : ''}`} role="cell" style=${{ width: `${c.width}px` }}>
            ${cellContent(c, run, { trials, open: open.has(run.id), picked: picked.includes(run.id),
                                    onPick: () => pick(run.id),
                                    onOpen: () => setParams({ open: toggle([...open], run.id).join(',') }) })}
          </div>`)}
      </div>`;
  };

  const addColumn = (spec, on) => {
    const next = on ? [...cols, spec] : cols.filter((c) => c !== spec);
    setParams({ cols: next.join(',') });
  };

  return html`
    <main id="main" class="page">
      <div class="row">
        <h1 class="grow">Runs</h1>
        <span class="muted" aria-live="polite">${loading ? `loading… ${runs.length}` : `${rows.length} shown of ${runs.length}`}</span>
        <button disabled=${picked.length < 2} onClick=${() => navigate(`/compare?runs=${picked.map(encodeURIComponent).join(',')}`)}>
          Compare ${picked.length ? `(${picked.length})` : ''}
        </button>
      </div>
      ${notice && html`<p class="notice" role="status" tabindex="-1" ref=${noticeLine}>${notice}</p>`}
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      <div class="filters" role="search">
        <input type="search" data-search placeholder="Search (press /)" aria-label="Search runs"
               value=${search} onInput=${(e) => { setSearch(e.target.value); setParams({ q: e.target.value }); }} />
        <select aria-label="Experiment" value=${experiment} onChange=${(e) => setParams({ experiment: e.target.value })}>
          <option value="">All experiments</option>
          ${choices.experiments.map((x) => html`<option value=${x}>${x}</option>`)}
        </select>
        <select aria-label="Status" value=${status} onChange=${(e) => setParams({ status: e.target.value })}>
          <option value="">Any status</option>
          ${['Queued', 'Preparing', 'Running', 'Finalizing', 'CancelRequested', 'Completed', 'Failed', 'Canceled']
            .map((x) => html`<option value=${x}>${x}</option>`)}
        </select>
        <select aria-label="Compute target" value=${target} onChange=${(e) => setParams({ target: e.target.value })}>
          <option value="">Any target</option>
          ${choices.targets.map((x) => html`<option value=${x}>${x}</option>`)}
        </select>
        <input type="text" placeholder="tag or tag=value" aria-label="Tag" value=${tag}
               onChange=${(e) => setParams({ tag: e.target.value })} />
        <label class="check"><input type="checkbox" checked=${withArchived}
               onChange=${(e) => setParams({ archived: e.target.checked ? 'any' : '' })} /> Show archived</label>
        <div class="columns">
          <button aria-expanded=${showColumns} onClick=${() => setShowColumns(!showColumns)}>Columns</button>
          ${showColumns && html`
            <div class="columns-menu" role="group" aria-label="Parameter and metric columns">
              <strong>Parameters</strong>
              ${choices.params.map((p) => html`<label><input type="checkbox" checked=${cols.includes(`p:${p}`)}
                 onChange=${(e) => addColumn(`p:${p}`, e.target.checked)} /> ${p}</label>`)}
              <strong>Latest metrics</strong>
              ${choices.metrics.map((m) => html`<label><input type="checkbox" checked=${cols.includes(`m:${m}`)}
                 onChange=${(e) => addColumn(`m:${m}`, e.target.checked)} /> ${m}</label>`)}
            </div>`}
        </div>
      </div>
      <div ref=${table}>
        <${VirtualList} class="runs-table" count=${rows.length} rowHeight=${kRowHeight} renderRow=${renderRow}
                        role="table" label="Runs" header=${header} scrollTo=${cursor} />
      </div>
      <p class="hint">j/k or arrows move, Enter opens, x marks a run for comparing, / searches.</p>
    </main>`;
}

function cellContent(column, run, { trials, open, picked, onPick, onOpen }) {
  switch (column.key) {
    case 'pick':
      return html`<input type="checkbox" checked=${picked} onChange=${onPick} aria-label=${`compare ${run.id}`} />`;
    case 'status':
      return html`<${StatusBadge} status=${run.status} />`;
    case 'name': {
      const href = runHref(run);
      return html`
        ${run.kind === 'sweep' && trials > 0 && html`
          <button class="link" aria-expanded=${open} aria-label=${`${open ? 'hide' : 'show'} the ${trials} trials of ${run.id}`}
                  onClick=${onOpen}>${open ? '▾' : '▸'}</button>`}
        ${run.archived_at && html`<span class="badge archived">Archived</span> `}
        <a href=${href} title=${run.id}>${run.display_name || run.id}</a>
        ${run.kind === 'sweep' && html` <span class="muted">sweep, ${trials} trials</span>`}`;
    }
    case 'created':
      return formatTime(run.created_at);
    case 'duration':
      return formatDuration(runDuration(run));
    case 'cause':
      return html`<span title=${failureCause(run)}>${failureCause(run)}</span>`;
    default: {
      const value = column.value(run);
      return column.metric ? formatNumber(value) : value ?? '';
    }
  }
}
