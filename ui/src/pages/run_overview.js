// A run's overview: the failure cause first, then what describes it (run_about.js), its
// facts, the status timeline (how long each status lasted and why it waited), parameters,
// tags, logged images and child runs. `canEdit`: the description, name, tags and archiving
// can be changed here; onEdited(run) gets the run each accepted edit returned.
import { useEffect, useState } from 'preact/hooks';
import { artifactPath, getJson, query, request, runPath } from '../api.js';
import { runHref, sweepHref } from '../router.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { StatusBadge } from '../components/status.js';
import { formatDuration, formatTime, kTerminal, parseTime, rankCount, runDuration } from '../format.js';
import { RunAbout } from './run_about.js';
import { RunTags } from './run_tags.js';

// The rank a failure reason names ("rank 1 exited with code 3"), if any.
export function failedRank(run) {
  const m = /rank (\d+)/.exec(run.failure_reason || '');
  return m ? Number(m[1]) : null;
}

function FailureCause({ run }) {
  const rank = failedRank(run);
  const tail = run.failure_log_tail || [];
  const lastLine = tail.length ? tail[tail.length - 1] : '';
  const logLink = `/runs/${encodeURIComponent(run.id)}?${new URLSearchParams({
    tab: 'logs', ...(rank !== null ? { rank: String(rank) } : {}), ...(lastLine ? { find: lastLine } : {}),
  })}`;
  return html`
    <section class="failure" aria-label="Failure cause">
      <strong>Failed: ${run.failure_reason || 'no reason was recorded'}</strong>
      ${run.exit_code !== null && html`<span class="muted"> · exit code ${run.exit_code}</span>`}
      ${rank !== null && html`<span class="muted"> · rank ${rank}</span>`}
      ${tail.length > 0 && html`<pre class="mono">${tail.join('\n')}</pre>`}
      <a href=${logLink}>Show this in the log</a>
    </section>`;
}

const kTimelineClass = (status) => {
  const known = ['queued', 'preparing', 'running', 'finalizing', 'completed', 'failed', 'canceled', 'cancelrequested'];
  const s = status.toLowerCase();
  return `tl-${known.includes(s) ? s : 'other'}`;
};

function Timeline({ run, history }) {
  if (!history || !history.length) return null;
  const now = Date.now();
  const spans = history.map((change, i) => {
    const start = parseTime(change.at);
    const next = history[i + 1];
    const end = next ? parseTime(next.at) : kTerminal.has(change.status) ? start : now;
    return { ...change, start, ms: Math.max(0, end - start), open: !next && !kTerminal.has(change.status) };
  });
  const total = spans.reduce((sum, s) => sum + s.ms, 0) || 1;
  return html`
    <section aria-label="Status timeline">
      <h2>Timeline</h2>
      <div class="timeline" role="img" aria-label=${spans.map((s) => `${s.status} ${formatDuration(s.ms)}`).join(', ')}>
        ${spans.filter((s) => s.ms > 0).map((s) => html`
          <span class=${kTimelineClass(s.status)} style=${{ flexGrow: String(s.ms / total) }} title=${`${s.status}: ${formatDuration(s.ms)}`}></span>`)}
      </div>
      <ol class="timeline-legend">
        ${spans.map((s) => html`
          <li>
            <span class=${`swatch ${kTimelineClass(s.status)}`}></span>
            <strong>${s.status}</strong> at ${formatTime(s.start)}
            ${!kTerminal.has(s.status) && html` · ${formatDuration(s.ms)}${s.open ? ' so far' : ''}`}
            ${s.detail && html` · <span class="muted">${s.detail}</span>`}
            ${s.open && run.target_detail && html` · <span>${run.target_detail}</span>`}
          </li>`)}
      </ol>
    </section>`;
}

function Images({ run }) {
  const [images, setImages] = useState([]);
  useEffect(() => {
    let urls = [];
    let stopped = false;
    (async () => {
      const { metrics } = await getJson(runPath(run.id, '/metrics'));
      const named = metrics.filter((m) => m.kind === 'image' && m.rank === 0);
      const found = [];
      for (const metric of named) {
        const series = await getJson(runPath(run.id, `/metrics/${encodeURIComponent(metric.name)}`));
        for (const value of series.values.slice(-12)) {
          if (!value || !value.path || !value.path.startsWith('outputs/')) continue;
          const response = await request(artifactPath(run.id, value.path));
          const blob = await response.blob();
          if (stopped) return;
          const url = URL.createObjectURL(blob);
          urls.push(url);
          found.push({ name: metric.name, path: value.path, url });
        }
      }
      if (!stopped) setImages(found);
    })().catch(() => {});
    return () => {
      stopped = true;
      urls.forEach((u) => URL.revokeObjectURL(u));
    };
  }, [run.id, run.status]);
  if (!images.length) return null;
  return html`
    <section aria-label="Logged images">
      <h2>Images</h2>
      <div class="images">
        ${images.map((img) => html`
          <figure><img src=${img.url} alt=${`${img.name} (${img.path})`} /><figcaption>${img.name}</figcaption></figure>`)}
      </div>
    </section>`;
}

function Children({ run }) {
  const ended = kTerminal.has(run.status);
  const { data } = usePoll(() => getJson(`/v1/runs${query({ parent: run.id })}`), ended ? 0 : 10000,
                           [run.id, ended]);
  if (!data || !data.runs.length) return null;
  return html`
    <section aria-label="Child runs">
      <h2>Child runs</h2>
      <table class="data">
        <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Duration</th></tr></thead>
        <tbody>${data.runs.map((child) => html`
          <tr><td><a href=${runHref(child.id)}>${child.display_name || child.id}</a></td>
              <td><${StatusBadge} status=${child.status} /></td><td>${formatDuration(runDuration(child))}</td></tr>`)}
        </tbody>
      </table>
    </section>`;
}

export function RunOverview({ run, canEdit, onEdited }) {
  const { data } = usePoll(() => getJson(runPath(run.id, '/history')), kTerminal.has(run.status) ? 0 : 3000,
                           [run.id, run.status]);
  const spec = run.spec || {};
  const environment = spec.environment_name ||
    (spec.environment ? `inline${spec.environment_hash ? ` (${String(spec.environment_hash).slice(0, 12)})` : ''}` : '') ||
    `none: ${spec.python || 'the target’s Python'}`;
  return html`
    ${run.status === 'Failed' && html`<${FailureCause} run=${run} />`}
    <${RunAbout} run=${run} canEdit=${canEdit} onEdited=${onEdited} />
    <div class="split">
      <section aria-label="Facts">
        <dl class="facts">
          <dt>Run</dt><dd class="mono">${run.id}</dd>
          <dt>Experiment</dt><dd><a href=${`/runs?experiment=${encodeURIComponent(run.experiment)}`}>${run.experiment}</a></dd>
          <dt>Status</dt><dd><${StatusBadge} status=${run.status} />${run.target_detail && html` <span>${run.target_detail}</span>`}</dd>
          <dt>Target</dt><dd>${run.compute_target}</dd>
          <dt>Ranks</dt><dd>${rankCount(run)} (${spec.node_count || 1} node${(spec.node_count || 1) > 1 ? 's' : ''} × ${spec.process_count_per_node || 1})${spec.distributed_backend && spec.distributed_backend !== 'none' ? ` · ${spec.distributed_backend}` : ''}</dd>
          <dt>Entry script</dt><dd class="mono">${spec.entry_script || '-'}</dd>
          <dt>Submitted</dt><dd>${formatTime(run.created_at)}${run.submitted_by ? ` by ${run.submitted_by}` : ''} on ${run.host}</dd>
          <dt>Started</dt><dd>${formatTime(run.started_at)}</dd>
          <dt>Ended</dt><dd>${formatTime(run.ended_at)}</dd>
          <dt>Duration</dt><dd>${formatDuration(runDuration(run))}</dd>
          <dt>Snapshot</dt><dd><a class="mono" href=${runHref(run.id, 'code')}>${(run.snapshot_id || '').slice(0, 12)}</a></dd>
          <dt>Environment</dt><dd>${environment}</dd>
          ${run.parent_id && html`<dt>Sweep</dt><dd><a href=${sweepHref(run.parent_id)}>${run.parent_id}</a></dd>`}
        </dl>
      </section>
      <section aria-label="Parameters and tags">
        <h2>Parameters</h2>
        ${run.params && run.params.length ? html`
          <table class="data"><tbody>${run.params.map((p) => html`
            <tr><th scope="row" class="mono">${p.name}</th><td class="mono">${p.value ?? ''}</td></tr>`)}</tbody></table>`
          : html`<p class="muted">None.</p>`}
        <${RunTags} run=${run} canEdit=${canEdit} onEdited=${onEdited} />
      </section>
    </div>
    <${Timeline} run=${run} history=${data && data.history} />
    <${Images} run=${run} />
    <${Children} run=${run} />`;
}
