// One run: its facts and failure cause, description, status timeline, logs, metrics,
// outputs, code and child runs, a tab each (?tab=). Polled every few seconds while the run
// has not ended; an edit on the overview shows the run the server returned at once.
import { useEffect, useState } from 'preact/hooks';
import { getJson, postJson, runPath } from '../api.js';
import { sweepHref } from '../router.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { StatusBadge } from '../components/status.js';
import { kTerminal } from '../format.js';
import { RunOverview } from './run_overview.js';
import { RunLogs } from './run_logs.js';
import { RunMetrics } from './run_metrics.js';
import { RunOutputs, RunCode } from './run_files.js';
import { canChangeRuns } from './run_edit.js';

const kTabs = [['overview', 'Overview'], ['logs', 'Logs'], ['metrics', 'Metrics'],
               ['outputs', 'Outputs'], ['code', 'Code']];

export async function cancelRun(id) {
  return postJson(runPath(id, '/transitions'), { to: 'CancelRequested', detail: 'canceled in Kiln Studio' });
}

// Runs that have not ended are read again this often.
const kRefreshMs = 3000;

export function RunPage({ id, params, me }) {
  const tab = params.get('tab') || 'overview';
  const [ended, setEnded] = useState(false);
  // Read once more when it ends, then no more.
  const { data: run, error, reload, set } = usePoll(() => getJson(runPath(id)), ended ? 0 : kRefreshMs, [id, ended]);
  useEffect(() => setEnded(!!run && kTerminal.has(run.status)), [run && run.status]);

  if (!run) {
    return html`<main id="main" class="page">
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : html`<p class="muted">Loading…</p>`}</main>`;
  }
  const tabHref = (key) => {
    const next = new URLSearchParams({ tab: key });
    return `/runs/${encodeURIComponent(id)}?${next}`;
  };
  return html`
    <main id="main" class="page">
      <div class="row">
        <h1 class="grow">${run.display_name || run.id} <${StatusBadge} status=${run.status} />${
          run.archived_at && html` <span class="badge archived">Archived</span>`}</h1>
        ${run.parent_id && html`<a href=${sweepHref(run.parent_id)}>Sweep ${run.parent_id}</a>`}
        ${!kTerminal.has(run.status) && canChangeRuns(me) && html`
          <button class="danger" onClick=${async () => {
            if (!confirm(`Cancel run ${run.id}?`)) return;
            try {
              await cancelRun(run.id);
            } catch (e) {
              alert(e.message);
            }
            reload();
          }}>Cancel run</button>`}
      </div>
      <nav class="tabs" aria-label="Run">
        ${kTabs.map(([key, label]) => html`
          <a href=${tabHref(key)} aria-current=${tab === key ? 'page' : undefined}>${label}</a>`)}
      </nav>
      ${tab === 'overview' && html`<${RunOverview} run=${run} canEdit=${canChangeRuns(me)} onEdited=${set} />`}
      ${tab === 'logs' && html`<${RunLogs} run=${run} params=${params} />`}
      ${tab === 'metrics' && html`<${RunMetrics} runs=${[run]} params=${params} />`}
      ${tab === 'outputs' && html`<${RunOutputs} run=${run} params=${params} />`}
      ${tab === 'code' && html`<${RunCode} run=${run} params=${params} />`}
    </main>`;
}

