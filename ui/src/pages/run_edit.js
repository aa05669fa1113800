// Editing a run: PATCH /v1/runs/{id} (docs/runs.md, "Editing a run"), one edit at a time.
// The server checks every rule and a refused edit changes nothing, so the UI checks none:
// it shows the server's message and leaves what was typed in place.
import { useRef, useState } from 'preact/hooks';
import { patchJson, runPath } from '../api.js';

// Whether the signed-in token may change runs (cancel, edit, archive, delete): a member or admin.
export function canChangeRuns(me) {
  return !!me && (me.role === 'member' || me.role === 'admin');
}

// Applies `changes` ({display_name, description, tags, remove_tags, archived}, each
// optional); resolves to the run as it is afterwards, rejects with the ApiError.
export function editRun(id, changes) {
  return patchJson(runPath(id), changes);
}

// {busy, error, send(changes)}: send resolves to the edited run (handed to onEdited first)
// or to null when the server refused it (its message is then `error`, until the next send).
// A send while one is in flight does nothing.
export function useRunEdit(run, onEdited) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const inFlight = useRef(false);
  const send = async (changes) => {
    if (inFlight.current) return null;
    inFlight.current = true;
    setBusy(true);
    setError('');
    try {
      const edited = await editRun(run.id, changes);
      onEdited(edited);
      return edited;
    } catch (e) {
      setError(e.message);
      return null;
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };
  return { busy, error, send };
}
