// Deleting a run for good: DELETE /v1/runs/{id} (docs/runs.md, "Deleting runs"). The page
// asks first, in place: what will go (a sweep with its trials) and that it cannot be undone.
// The server checks the rules (a member or admin; a run that has ended) and a refused delete
// removes nothing, so the UI shows the server's message and stays. A delete that went
// through opens the runs list, which says once what was deleted (notice.js).
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, deleteJson, getJson, query, runPath } from '../api.js';
import { html } from '../html.js';
import { navigate } from '../router.js';
import { leaveNotice } from '../notice.js';

// Resolves to the runs deleted, trials first; rejects with the ApiError.
export async function deleteRun(id) {
  const body = await deleteJson(runPath(id));
  return body.deleted;
}

const kindOf = (run) => (run.kind === 'sweep' ? 'sweep' : 'run');
const nameOf = (run) => (run.display_name ? `“${run.display_name}” (${run.id})` : run.id);
const trialsText = (count) => (count === 1 ? '1 trial' : `${count} trials`);

// The question the confirmation asks. `trials`: a sweep's trial count, null while unknown.
export function deleteQuestion(run, trials) {
  let withTrials = '';
  if (run.kind === 'sweep' && trials === null) withTrials = ' and its trials';
  else if (run.kind === 'sweep' && trials > 0) withTrials = ` and its ${trialsText(trials)}`;
  return `Delete ${kindOf(run)} ${nameOf(run)}${withTrials} for good?`;
}

// What the runs list says afterwards, from the runs the server deleted (trials first).
export function deletedNotice(run, deleted) {
  const trials = deleted.filter((one) => one.id !== run.id).length;
  return `Deleted ${kindOf(run)} ${nameOf(run)}${trials > 0 ? ` and its ${trialsText(trials)}` : ''}.`;
}

// A sweep's trial count (archived trials too: they go with it), or null until it is read and
// when it cannot be.
function useTrialCount(run) {
  const [count, setCount] = useState(null);
  useEffect(() => {
    if (run.kind !== 'sweep') return undefined;
    const controller = new AbortController();
    getJson(`/v1/runs${query({ parent: run.id, archived: 'any' })}`, { signal: controller.signal })
      .then((body) => setCount(body.runs.length))
      .catch(() => {});
    return () => controller.abort();
  }, [run.id, run.kind]);
  return count;
}

// The confirmation step. Focus goes to Cancel when it opens (the choice that loses nothing);
// Cancel or Escape calls onCancel. Once Delete is sent, neither takes it back.
export function DeleteConfirm({ run, onCancel }) {
  const trials = useTrialCount(run);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const inFlight = useRef(false);
  const cancelButton = useRef(null);
  useLayoutEffect(() => cancelButton.current && cancelButton.current.focus(), []);

  const confirm = async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setError('');
    try {
      const deleted = await deleteRun(run.id);
      leaveNotice(deletedNotice(run, deleted));
      // The run's page leaves the history: Back does not lead to a run that is gone.
      navigate('/runs', { replace: true });
    } catch (e) {
      inFlight.current = false;
      setBusy(false);
      setError(e instanceof ApiError ? e.message : `Could not reach the server: ${e.message}`);
    }
  };
  const cancel = () => {
    if (!inFlight.current) onCancel();
  };
  const onKeyDown = (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    cancel();
  };

  return html`
    <div class="confirm-delete card" role="group" aria-labelledby="delete-question" onKeyDown=${onKeyDown}>
      <p id="delete-question"><strong>${deleteQuestion(run, trials)}</strong></p>
      <p>Its parameters, tags, status history, metrics, logs and files${
        run.kind === 'sweep' ? ', and its trials’,' : ''} go, and this cannot be undone. Model versions
        registered from it stay. To hide a run and keep it, archive it instead.</p>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <div class="row">
        <button class="danger" onClick=${confirm}>Delete for good</button>
        <button ref=${cancelButton} onClick=${cancel}>Cancel</button>
        <span class="muted" aria-live="polite">${busy ? 'Deleting…' : ''}</span>
      </div>
    </div>`;
}
