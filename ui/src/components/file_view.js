// A preview of one file: text, JSON (pretty), CSV (a table), PNG/JPEG/GIF/SVG images;
// anything else, or anything too large, offers its download only.
import { useEffect, useState } from 'preact/hooks';
import { request, download } from '../api.js';
import { html } from '../html.js';
import { formatBytes } from '../format.js';

const kMaxPreviewBytes = 2 * 1024 * 1024;
const kMaxCsvRows = 500;
const kImage = /\.(png|jpe?g|gif|webp|svg)$/i;
const kText = /\.(txt|log|md|py|sh|json|jsonl|ya?ml|toml|cfg|ini|csv|tsv|cc|cpp|h|hpp|c|js|ts|rs|go|java|r|ipynb|gitignore|html?|css|xml)$/i;

export function previewKind(name) {
  if (kImage.test(name)) return 'image';
  if (/\.(csv|tsv)$/i.test(name)) return 'table';
  if (/\.json$/i.test(name)) return 'json';
  if (kText.test(name) || !/\.[^/]+$/.test(name)) return 'text';
  return 'binary';
}

function parseCsv(text, separator) {
  return text.split(/\r?\n/).filter((line) => line.length).slice(0, kMaxCsvRows + 1)
    .map((line) => line.split(separator));
}

// path: the API path of the file's bytes; name: its name (the kind comes from it).
export function FileView({ path, name, size }) {
  const [content, setContent] = useState(null);
  const [error, setError] = useState(null);
  const kind = previewKind(name);
  const tooLarge = size !== undefined && size > kMaxPreviewBytes;

  useEffect(() => {
    setContent(null);
    setError(null);
    if (kind === 'binary' || tooLarge) return undefined;
    const controller = new AbortController();
    let url = null;
    request(path, { signal: controller.signal })
      .then((response) => (kind === 'image' ? response.blob() : response.text()))
      .then((body) => {
        if (kind === 'image') {
          // An SVG is shown as an image: scripts in it never run.
          const typed = name.toLowerCase().endsWith('.svg') ? new Blob([body], { type: 'image/svg+xml' }) : body;
          url = URL.createObjectURL(typed);
          setContent(url);
        } else {
          setContent(body);
        }
      })
      .catch((e) => {
        if (e.name !== 'AbortError') setError(e.message);
      });
    return () => {
      controller.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [path]);

  const base = name.split('/').pop();
  return html`
    <div class="viewer" aria-label=${`preview of ${name}`}>
      <div class="row">
        <strong class="grow mono">${name}</strong>
        <span class="muted">${formatBytes(size)}</span>
        <button onClick=${() => download(path, base)}>Download</button>
      </div>
      ${error && html`<p class="error">${error}</p>`}
      ${tooLarge && html`<p class="muted">Larger than ${formatBytes(kMaxPreviewBytes)}: download it to read it.</p>`}
      ${kind === 'binary' && html`<p class="muted">No preview for this kind of file.</p>`}
      ${content !== null && renderContent(kind, content, name)}
    </div>`;
}

function renderContent(kind, content, name) {
  if (kind === 'image') return html`<img src=${content} alt=${name} />`;
  if (kind === 'json') {
    try {
      return html`<pre>${JSON.stringify(JSON.parse(content), null, 2)}</pre>`;
    } catch {
      return html`<pre>${content}</pre>`;
    }
  }
  if (kind === 'table') {
    const rows = parseCsv(content, name.toLowerCase().endsWith('.tsv') ? '\t' : ',');
    if (!rows.length) return html`<p class="muted">Empty.</p>`;
    return html`
      <table class="data">
        <thead><tr>${rows[0].map((cell) => html`<th scope="col">${cell}</th>`)}</tr></thead>
        <tbody>${rows.slice(1).map((row) => html`<tr>${row.map((cell) => html`<td>${cell}</td>`)}</tr>`)}</tbody>
      </table>
      ${rows.length > kMaxCsvRows && html`<p class="muted">The first ${kMaxCsvRows} rows.</p>`}`;
  }
  return html`<pre>${content}</pre>`;
}
