// deleteQuestion and deletedNotice (ui/src/pages/run_delete.js): what the confirmation asks
// and what the runs list says afterwards, for a run and for a sweep with its trials.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

// router.js (imported by run_delete.js) listens to the window's popstate when it loads.
globalThis.window ??= new EventTarget();
const { deleteQuestion, deletedNotice } = await import('../src/pages/run_delete.js');

const run = { id: 'r-1', kind: 'job', display_name: 'smaller lr' };
const sweep = { id: 's-1', kind: 'sweep', display_name: '' };

describe('deleteQuestion', () => {
  it('names the run and its id, or the id alone', () => {
    assert.equal(deleteQuestion(run, null), 'Delete run “smaller lr” (r-1) for good?');
    assert.equal(deleteQuestion({ ...run, display_name: null }, null), 'Delete run r-1 for good?');
  });

  it('names a sweep with its trials, counted once known', () => {
    assert.equal(deleteQuestion(sweep, null), 'Delete sweep s-1 and its trials for good?');
    assert.equal(deleteQuestion(sweep, 3), 'Delete sweep s-1 and its 3 trials for good?');
    assert.equal(deleteQuestion(sweep, 1), 'Delete sweep s-1 and its 1 trial for good?');
    assert.equal(deleteQuestion(sweep, 0), 'Delete sweep s-1 for good?');
  });
});

describe('deletedNotice', () => {
  it('says what the server deleted', () => {
    assert.equal(deletedNotice(run, [run]), 'Deleted run “smaller lr” (r-1).');
    const trials = ['t-1', 't-2', 't-3'].map((id) => ({ id, parent_id: sweep.id }));
    assert.equal(deletedNotice(sweep, [...trials, sweep]), 'Deleted sweep s-1 and its 3 trials.');
    assert.equal(deletedNotice(sweep, [sweep]), 'Deleted sweep s-1.');
  });
});
