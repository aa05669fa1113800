// What describes a run, above its facts: whether it is archived, its description (plain
// text, its lines kept), and for a member or admin the controls that change them: a form for
// the name and description, Archive (once the run has ended) or Restore, and Delete (once
// the run has ended), which asks first (run_delete.js).
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { formatTime, kTerminal } from '../format.js';
import { useRunEdit } from './run_edit.js';
import { DeleteConfirm } from './run_delete.js';

// Focus goes back to `button` when what it opened closes (before the next paint, so a key
// pressed at once goes to it).
function useFocusBack(open, button) {
  const opened = useRef(false);
  useLayoutEffect(() => {
    if (open) opened.current = true;
    else if (opened.current && button.current) button.current.focus();
  }, [open]);
}

// The name and description as typed; Save sends those that differ from the run's.
function DetailsForm({ run, edit, onClose }) {
  const [name, setName] = useState(run.display_name || '');
  const [description, setDescription] = useState(run.description || '');
  const first = useRef(null);
  useLayoutEffect(() => first.current && first.current.focus(), []);

  const save = async (event) => {
    event.preventDefault();
    const changes = {};
    if (name !== (run.display_name || '')) changes.display_name = name;
    if (description !== (run.description || '')) changes.description = description;
    if (!Object.keys(changes).length) {
      onClose();
      return;
    }
    if (await edit.send(changes)) onClose();
  };

  return html`
    <form class="edit-form card" aria-label="Edit name and description" onSubmit=${save}>
      <label>Name
        <input ref=${first} type="text" value=${name} onInput=${(e) => setName(e.target.value)} />
      </label>
      <span class="hint">One line; left empty, the run shows its id.</span>
      <label>Description
        <textarea rows="6" value=${description} onInput=${(e) => setDescription(e.target.value)}></textarea>
      </label>
      ${edit.error && html`<p class="error" role="alert">${edit.error}</p>`}
      <div class="row">
        <button type="submit">${edit.busy ? 'Saving…' : 'Save'}</button>
        <button type="button" onClick=${onClose}>Discard</button>
      </div>
    </form>`;
}

export function RunAbout({ run, canEdit, onEdited }) {
  const [editing, setEditing] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const details = useRunEdit(run, onEdited);
  const archive = useRunEdit(run, onEdited);
  const editButton = useRef(null);
  const deleteButton = useRef(null);
  useFocusBack(editing, editButton);
  useFocusBack(confirmingDelete, deleteButton);

  const ended = kTerminal.has(run.status);
  // One button for both, so that focus stays on it when Archive turns into Restore.
  const archiveLabel = run.archived_at ? 'Restore run' : 'Archive run';
  return html`
    <section class="about" aria-label="About this run">
      ${run.archived_at && html`
        <p class="archived-note"><strong>Archived</strong> ${formatTime(run.archived_at)}: hidden from the
          runs list unless “Show archived” is on.</p>`}
      ${editing
        ? html`<${DetailsForm} run=${run} edit=${details} onClose=${() => setEditing(false)} />`
        : run.description
          ? html`<p class="description">${run.description}</p>`
          : html`<p class="muted">No description.</p>`}
      ${canEdit && confirmingDelete && html`
        <${DeleteConfirm} run=${run} onCancel=${() => setConfirmingDelete(false)} />`}
      ${canEdit && !editing && !confirmingDelete && html`
        <div class="row">
          <button ref=${editButton} onClick=${() => setEditing(true)}>Edit name and description</button>
          ${(ended || run.archived_at) && html`
            <button onClick=${() => archive.send({ archived: !run.archived_at })}>${archiveLabel}</button>`}
          ${ended && html`
            <button ref=${deleteButton} onClick=${() => setConfirmingDelete(true)}>Delete run</button>`}
          <span class="muted" aria-live="polite">${archive.busy ? 'Saving…' : ''}</span>
        </div>
        ${archive.error && html`<p class="error" role="alert">${archive.error}</p>`}`}
    </section>`;
}
