// LogBuffer and LogView (ui/src/log_buffer.js) in Node, with the API's log pages answered
// from the lines the test streamed: held text stays bounded, a chunk let go is read again
// from its cursor, errors are found without the text, and a broken stream's partial chunk
// is forgotten.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

globalThis.sessionStorage = { getItem: () => 'kiln_tok_test', setItem() {}, removeItem() {} };
const requests = [];
let allLines = [];
let pages = null; // set: answer with these pages instead
// GET /v1/runs/r/logs?limit=N&cursor=C, where the test's cursors are line numbers.
globalThis.fetch = async (path) => {
  requests.push(path);
  const url = new URL(path, 'http://kiln');
  const from = Number(url.searchParams.get('cursor') || 0);
  const limit = Number(url.searchParams.get('limit'));
  const lines = pages ? pages[from] || [] : allLines.slice(from, from + limit);
  const next = pages ? String(from + 1) : String(from + lines.length);
  return { ok: true, status: 200, json: async () => ({ lines, next_cursor: next, more: false }) };
};

const { LogBuffer, LogView, findAll, firstError, kResidentLines } = await import('../src/log_buffer.js');

function line(i) {
  return { rank: i % 2, time: 1000 + i, stream: i === 123_456 ? 'stderr' : 'stdout',
           text: i === 123_456 ? 'ValueError: planted' : `line ${i}` };
}

// Streams `count` lines in batches of `batch`, each batch's last line with its cursor.
function stream(buffer, count, batch = 1000) {
  allLines = Array.from({ length: count }, (_, i) => line(i));
  allLines.forEach((l, i) => buffer.push(l, (i + 1) % batch === 0 || i + 1 === count ? String(i + 1) : null));
}

describe('LogBuffer', () => {
  beforeEach(() => { requests.length = 0; });

  it('holds the text of at most kResidentLines lines and reads a chunk again when shown', async () => {
    const buffer = new LogBuffer('r');
    stream(buffer, 250_000);
    assert.equal(buffer.length, 250_000);
    assert.ok(buffer.resident <= kResidentLines, `${buffer.resident} held`);
    assert.equal(buffer.text(249_999), 'line 249999');
    assert.equal(buffer.text(5), null, 'the oldest chunks let their text go');
    let changed = 0;
    buffer.onChange = () => { changed++; };
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(changed, 1);
    assert.deepEqual(requests, ['/v1/runs/r/logs?limit=10000'], 'the first chunk starts at the log\'s start');
    assert.equal(buffer.text(5), 'line 5');
    assert.equal(buffer.text(2500), null);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(requests[1], '/v1/runs/r/logs?limit=10000&cursor=2000');
    assert.equal(buffer.text(2500), 'line 2500');
    assert.ok(buffer.resident <= kResidentLines);
  });

  it('places a chunk read again by rank, when a rank that lagged is there now', async () => {
    // Streamed: chunk 1 held rank 0's a0 a1 (rank 1 had printed nothing yet), chunk 2 rank
    // 1's b0 and rank 0's a2. Read again from the start, the merge puts b0 (printed first)
    // among chunk 1's lines.
    const buffer = new LogBuffer('r');
    const text = (rank, t) => ({ rank, time: 0, stream: 'stdout', text: t });
    buffer.push(text(0, 'a0'), null);
    buffer.push(text(0, 'a1'), '1');
    buffer.push(text(1, 'b0'), null);
    buffer.push(text(0, 'a2'), '2');
    buffer.chunks[0].texts = null;
    buffer.resident -= 2;
    pages = { 0: [text(1, 'b0'), text(0, 'a0'), text(1, 'b1'), text(0, 'a1')] };
    assert.equal(buffer.text(0), null);
    await new Promise((resolve) => setTimeout(resolve, 10));
    pages = null;
    assert.deepEqual([0, 1, 2, 3].map((i) => buffer.text(i)), ['a0', 'a1', 'b0', 'a2']);
  });

  it('finds the first error without the text, and searches the text it holds', () => {
    const buffer = new LogBuffer('r');
    stream(buffer, 250_000);
    const all = new LogView(buffer, null);
    assert.equal(firstError(all), 123_456);
    assert.equal(buffer.isStderr(123_456), true);
    const odd = new LogView(buffer, new Set([1]));
    assert.equal(odd.length, 125_000);
    assert.equal(firstError(odd), -1, 'the error is on rank 0');
    const found = findAll(all, 'line 24999');
    // line 24999 is no longer held; lines 249990..249999 are.
    assert.deepEqual(found.hits, Array.from({ length: 10 }, (_, k) => 249_990 + k));
    assert.equal(found.unsearched, 250_000 - buffer.resident);
  });

  it('forgets a partial chunk, which the stream sends again from the last cursor', () => {
    const buffer = new LogBuffer('r');
    buffer.push(line(0), null);
    buffer.push(line(1), '2');
    buffer.push(line(2), null);
    const view = new LogView(buffer, null);
    assert.equal(view.length, 3);
    assert.equal(buffer.discardOpen(), 2);
    view.truncate(2);
    assert.equal(view.length, 2);
    buffer.push(line(2), null);
    buffer.push(line(3), '4');
    view.catchUp();
    assert.equal(view.length, 4);
    assert.deepEqual([0, 1, 2, 3].map((i) => buffer.text(i)), ['line 0', 'line 1', 'line 2', 'line 3']);
  });
});
