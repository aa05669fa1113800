// A run's outputs (outputs/ of its run directory) and its code (the snapshot it ran), each
// a tree beside a viewer of the chosen file (?file=).
import { useEffect, useState } from 'preact/hooks';
import { artifactPath, getJson, runPath } from '../api.js';
import { html } from '../html.js';
import { setParams } from '../router.js';
import { FileTree } from '../components/tree.js';
import { FileView } from '../components/file_view.js';
import { formatBytes } from '../format.js';

function Files({ files, params, pathOf, label, empty }) {
  const selected = params.get('file');
  const file = files.find((f) => f.path === selected);
  const total = files.reduce((sum, f) => sum + (f.size || 0), 0);
  return html`
    <section aria-label=${label}>
      <p class="muted">${files.length} files, ${formatBytes(total)}</p>
      ${files.length === 0 ? html`<p class="muted">${empty}</p>` : html`
        <div class="files">
          <nav aria-label=${`${label} tree`}>
            <${FileTree} files=${files} selected=${selected} onSelect=${(path) => setParams({ file: path })} />
          </nav>
          ${file ? html`<${FileView} key=${file.path} path=${pathOf(file)} name=${file.path} size=${file.size} />`
                 : html`<p class="muted">Choose a file to see it.</p>`}
        </div>`}
    </section>`;
}

export function RunOutputs({ run, params }) {
  const [files, setFiles] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    getJson(runPath(run.id, '/artifacts'))
      .then(({ artifacts }) => setFiles(artifacts.map((a) => ({ path: a.name, size: a.size }))))
      .catch((e) => setError(e.message));
  }, [run.id, run.status]);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!files) return html`<p class="muted">Loading…</p>`;
  return html`<${Files} files=${files} params=${params} label="Outputs"
    empty="The run wrote nothing to ./outputs yet." pathOf=${(f) => artifactPath(run.id, f.path)} />`;
}

// A snapshot's files: [{path, size, sha256}] (links left out: they have no bytes).
export async function snapshotFiles(id) {
  const manifest = await getJson(`/v1/snapshots/${id}`);
  return manifest.entries.filter((e) => e.type === 'file');
}

export const objectPath = (sha256) => `/v1/snapshots/objects/${sha256}`;

export function RunCode({ run, params }) {
  const [files, setFiles] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!run.snapshot_id) return;
    snapshotFiles(run.snapshot_id).then(setFiles).catch((e) => setError(e.message));
  }, [run.snapshot_id]);
  if (!run.snapshot_id) return html`<p class="muted">This run has no snapshot.</p>`;
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!files) return html`<p class="muted">Loading…</p>`;
  return html`
    <p class="mono muted">snapshot ${run.snapshot_id}</p>
    <${Files} files=${files} params=${params} label="Code" empty="The snapshot is empty."
      pathOf=${(f) => objectPath(f.sha256)} />`;
}
