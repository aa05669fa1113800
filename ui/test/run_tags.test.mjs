// parseTag (ui/src/pages/run_tags.js): what the "Add tag" field sends, trimmed; the server
// checks it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTag } from '../src/pages/run_tags.js';

describe('parseTag', () => {
  it('splits at the first "="', () => {
    assert.deepEqual(parseTag('stage=tested'), { key: 'stage', value: 'tested' });
    assert.deepEqual(parseTag('expr=a=b'), { key: 'expr', value: 'a=b' });
  });

  it('takes a key alone as an empty value', () => {
    assert.deepEqual(parseTag('reviewed'), { key: 'reviewed', value: '' });
    assert.deepEqual(parseTag('reviewed='), { key: 'reviewed', value: '' });
  });

  it('trims the key and the value, and keeps a key the server will refuse', () => {
    assert.deepEqual(parseTag('  owner = me too '), { key: 'owner', value: 'me too' });
    assert.deepEqual(parseTag('bad key=x'), { key: 'bad key', value: 'x' });
    assert.deepEqual(parseTag('=x'), { key: '', value: 'x' });
  });
});
