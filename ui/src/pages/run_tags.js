// A run's tags; for a member or admin, a Remove button on each and a field that adds one
// ("key=value", or "key" for an empty value).
import { useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { useRunEdit } from './run_edit.js';

// {key, value} of what was typed ("key=value" or "key"), each without the spaces around it.
export function parseTag(text) {
  const at = text.indexOf('=');
  if (at < 0) return { key: text.trim(), value: '' };
  return { key: text.slice(0, at).trim(), value: text.slice(at + 1).trim() };
}

export function RunTags({ run, canEdit, onEdited }) {
  const [draft, setDraft] = useState('');
  const edit = useRunEdit(run, onEdited);
  const field = useRef(null);
  const tags = Object.entries(run.tags || {});

  const add = async (event) => {
    event.preventDefault();
    if (!draft.trim()) return;
    const { key, value } = parseTag(draft);
    if (await edit.send({ tags: { [key]: value } })) setDraft('');
  };
  // The Remove button goes with its row: focus moves to the field.
  const remove = async (key) => {
    if (await edit.send({ remove_tags: [key] }) && field.current) field.current.focus();
  };

  return html`
    <h2>Tags</h2>
    ${tags.length ? html`
      <table class="data"><tbody>${tags.map(([k, v]) => html`
        <tr key=${k}><th scope="row">${k}</th><td>${v}</td>
          ${canEdit && html`<td><button class="link" aria-label=${`Remove tag ${k}`}
                                      onClick=${() => remove(k)}>Remove</button></td>`}</tr>`)}</tbody></table>`
      : html`<p class="muted">None.</p>`}
    ${canEdit && html`
      <form class="row add-tag" aria-label="Add a tag" onSubmit=${add}>
        <label for="add-tag">Add tag</label>
        <input id="add-tag" ref=${field} type="text" placeholder="key=value" spellcheck="false"
               value=${draft} onInput=${(e) => setDraft(e.target.value)} />
        <button type="submit">${edit.busy ? 'Saving…' : 'Add'}</button>
      </form>
      ${edit.error && html`<p class="error" role="alert">${edit.error}</p>`}`}`;
}
