// The model registry: every model, and one model's versions with their lineage (the run
// and snapshot they came from), format, size, ONNX parity report and signature.
import { getJson } from '../api.js';
import { runHref } from '../router.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { formatBytes, formatNumber, formatTime } from '../format.js';

function Json({ value }) {
  if (!value || !Object.keys(value).length) return html`<span class="muted">none</span>`;
  return html`<pre class="mono">${JSON.stringify(value, null, 2)}</pre>`;
}

function Version({ model }) {
  return html`
    <section class="card" aria-label=${`${model.name} version ${model.version}`}>
      <h2>${model.name} <span class="muted">version ${model.version}</span></h2>
      ${model.description && html`<p>${model.description}</p>`}
      <dl class="facts">
        <dt>Format</dt><dd>${model.format}</dd>
        <dt>Size</dt><dd>${formatBytes(model.size_bytes)}</dd>
        <dt>SHA-256</dt><dd class="mono">${model.sha256}</dd>
        <dt>From run</dt><dd>${model.run ? html`<a href=${runHref(model.run)}>${model.run}</a>` : '-'}
          ${model.path && html` <span class="mono muted">${model.path}</span>`}</dd>
        <dt>Experiment</dt><dd>${model.experiment || '-'}</dd>
        <dt>Snapshot</dt><dd>${model.snapshot && model.run
          ? html`<a class="mono" href=${runHref(model.run, 'code')}>${model.snapshot.slice(0, 12)}</a>`
          : (model.snapshot || '-')}</dd>
        <dt>Registered</dt><dd>${formatTime(model.created_at)}</dd>
        <dt>Tags</dt><dd>${Object.entries(model.tags || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}</dd>
        <dt>Metrics</dt><dd>${Object.entries(model.metrics || {}).map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ') || '-'}</dd>
      </dl>
      <div class="split">
        <div><h3>Parity report</h3><${Json} value=${model.parity} /></div>
        <div><h3>Signature</h3><${Json} value=${model.signature} /></div>
      </div>
    </section>`;
}

function Model({ name }) {
  const { data, error } = usePoll(() => getJson(`/v1/models/${encodeURIComponent(name)}/versions`), 0, [name]);
  return html`
    <main id="main" class="page">
      <p><a href="/models">All models</a></p>
      <h1>${name}</h1>
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      ${data && data.models.map((model) => html`<${Version} key=${model.version} model=${model} />`)}
    </main>`;
}

export function ModelsPage({ name }) {
  if (name) return html`<${Model} name=${name} />`;
  const { data, error } = usePoll(() => getJson('/v1/models'), 10000, []);
  // Every version of every model: the list shows each model's latest, and how many it has.
  const byName = new Map();
  for (const version of data ? data.models : []) {
    const seen = byName.get(version.name);
    if (!seen || version.version > seen.latest.version) {
      byName.set(version.name, { latest: version, count: (seen ? seen.count : 0) + 1 });
    } else {
      seen.count += 1;
    }
  }
  const models = [...byName.values()].sort((a, b) => a.latest.name.localeCompare(b.latest.name));
  return html`
    <main id="main" class="page">
      <h1>Models</h1>
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
      ${data && !models.length && html`<p class="muted">No model registered yet (kiln model register, or run.register_model).</p>`}
      ${models.length > 0 && html`
        <table class="data">
          <thead><tr><th scope="col">Model</th><th scope="col">Latest version</th><th scope="col">Format</th>
            <th scope="col">From run</th><th scope="col">Registered</th></tr></thead>
          <tbody>${models.map(({ latest: m, count }) => html`
            <tr><td><a href=${`/models/${encodeURIComponent(m.name)}`}>${m.name}</a></td>
                <td>${m.version}${count > 1 ? html` <span class="muted">(${count} versions)</span>` : ''}</td>
                <td>${m.format}</td><td>${m.run ? html`<a href=${runHref(m.run)}>${m.run}</a>` : '-'}</td>
                <td>${formatTime(m.created_at)}</td></tr>`)}
          </tbody>
        </table>`}
    </main>`;
}
