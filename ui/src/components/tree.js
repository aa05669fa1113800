// A folder tree of file paths ("a/b/c.txt"), folders first; a file is a button that
// selects it. Folders on the way to the selected file start open.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { formatBytes } from '../format.js';

// [{path, size}] as nested {name, path, children: Map, file}.
export function buildTree(files) {
  const root = { name: '', path: '', children: new Map() };
  for (const file of files) {
    const parts = file.path.split('/');
    let node = root;
    parts.forEach((part, i) => {
      if (!node.children.has(part)) {
        node.children.set(part, { name: part, path: parts.slice(0, i + 1).join('/'), children: new Map() });
      }
      node = node.children.get(part);
    });
    node.file = file;
  }
  return root;
}

function sorted(node) {
  return [...node.children.values()].sort((a, b) => {
    const fa = a.children.size === 0;
    const fb = b.children.size === 0;
    if (fa !== fb) return fa ? 1 : -1;
    return a.name.localeCompare(b.name);
  });
}

function Folder({ node, selected, onSelect, depth }) {
  const [open, setOpen] = useState(depth < 1 || (selected && selected.startsWith(`${node.path}/`)));
  return html`
    <li>
      <button class="link" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? '▾' : '▸'} ${node.name}/</button>
      ${open && html`<${Nodes} node=${node} selected=${selected} onSelect=${onSelect} depth=${depth + 1} />`}
    </li>`;
}

function Nodes({ node, selected, onSelect, depth }) {
  return html`
    <ul class="tree">
      ${sorted(node).map((child) => (child.children.size && !child.file
        ? html`<${Folder} key=${child.path} node=${child} selected=${selected} onSelect=${onSelect} depth=${depth} />`
        : html`
          <li key=${child.path}>
            <button class="link" aria-current=${selected === child.path ? 'true' : undefined}
                    onClick=${() => onSelect(child.path)}>${child.name}</button>
            <span class="muted"> ${formatBytes(child.file && child.file.size)}</span>
          </li>`))}
    </ul>`;
}

export function FileTree({ files, selected, onSelect }) {
  if (!files.length) return html`<p class="muted">No files.</p>`;
  return html`<${Nodes} node=${buildTree(files)} selected=${selected} onSelect=${onSelect} depth=${0} />`;
}
