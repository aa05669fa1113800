// The lines of a run's log as the page holds them, bounded whatever the log's length.
//
// Every line has its rank, time and stream in typed arrays (13 bytes a line), and whether
// it looks like an error, found as it arrives. Its text lives in the chunk it came in (one
// batch of the stream, whose end the stream names with a cursor). The text of at most
// kResidentLines lines is held: past that, the chunks seen least recently let theirs go, and
// a chunk scrolled back to is read again from its cursor (GET /v1/runs/{id}/logs?cursor=).
// So following a chatty run keeps the page's memory flat, and a million lines still scroll.
// At most kMaxLines lines are indexed: past that the oldest tenth is dropped (the API and
// `kiln logs` have them all).
import { getJson, query, runPath } from './api.js';

export const kMaxLines = 1_000_000;
export const kResidentLines = 100_000;
// Pages of 10,000 lines one chunk's reload reads at most (a rank far behind the others).
const kMaxReloadPages = 20;

const kErrorPattern = /Traceback \(most recent call last\)|[A-Za-z]*(Error|Exception)\b|\b(FAILED|Fatal|panic)\b/;

export class LogBuffer {
  constructor(runId) {
    this.runId = runId;
    this.capacity = 4096;
    this.ranks = new Int32Array(this.capacity);
    this.times = new Float64Array(this.capacity);
    this.flags = new Uint8Array(this.capacity); // 1: stderr, 2: looks like an error
    this.length = 0;
    this.dropped = 0; // lines dropped from the front
    // {start, count, before: the cursor the chunk starts at ('' for the log's start),
    //  after: the one it ends at (null while it is still growing), texts: [] or null,
    //  seen: when it was last shown, loading}
    this.chunks = [];
    this.resident = 0;
    this.clock = 0;
    this.onChange = () => {};
  }

  grow() {
    this.capacity *= 2;
    const grow = (Type, old) => {
      const next = new Type(this.capacity);
      next.set(old);
      return next;
    };
    this.ranks = grow(Int32Array, this.ranks);
    this.times = grow(Float64Array, this.times);
    this.flags = grow(Uint8Array, this.flags);
  }

  // A line from the stream; `cursor`, when the stream gave one, ends its chunk. Returns how
  // many lines were dropped from the front to make room (0 mostly).
  push(line, cursor) {
    let dropped = 0;
    if (this.length >= kMaxLines) dropped = this.dropFront(kMaxLines / 10);
    if (this.length === this.capacity) this.grow();
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.after !== null) {
      chunk = { start: this.length, count: 0, before: chunk ? chunk.after : '', after: null,
                texts: [], seen: this.clock, loading: false };
      this.chunks.push(chunk);
    }
    const i = this.length++;
    this.ranks[i] = line.rank;
    this.times[i] = line.time;
    this.flags[i] = (line.stream === 'stderr' ? 1 : 0) | (kErrorPattern.test(line.text) ? 2 : 0);
    chunk.texts.push(line.text);
    chunk.count++;
    this.resident++;
    if (cursor) {
      chunk.after = cursor;
      this.evict();
    }
    return dropped;
  }

  // Forgets the lines of the chunk still growing (a stream that broke mid-batch is taken
  // up again from the last cursor, which sends them again); returns the new length.
  discardOpen() {
    const chunk = this.chunks[this.chunks.length - 1];
    if (chunk && chunk.after === null) {
      this.chunks.pop();
      this.length -= chunk.count;
      if (chunk.texts) this.resident -= chunk.count;
    }
    return this.length;
  }

  isStderr(i) {
    return (this.flags[i] & 1) !== 0;
  }

  looksLikeError(i) {
    return (this.flags[i] & 2) !== 0;
  }

  chunkOf(i) {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid].start <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.chunks[lo];
  }

  // The line's text, or null while its chunk is read again (onChange() once it is).
  text(i) {
    const chunk = this.chunkOf(i);
    chunk.seen = ++this.clock;
    if (chunk.texts) return chunk.texts[i - chunk.start];
    if (!chunk.loading) this.reload(chunk);
    return null;
  }

  // Whether the line's text is held now (search covers those).
  held(i) {
    return this.chunkOf(i).texts !== null;
  }

  // Reads the chunk's text again from the cursor it starts at. A read merges every rank's
  // lines that are there now, so it may hold lines of a rank that lagged when the chunk was
  // streamed (they belong to a later chunk): the chunk's lines of each rank are that rank's
  // first lines after the cursor, and are placed by rank.
  async reload(chunk) {
    chunk.loading = true;
    try {
      const want = new Map(); // rank -> lines of it in the chunk
      for (let i = chunk.start; i < chunk.start + chunk.count; i++) {
        want.set(this.ranks[i], (want.get(this.ranks[i]) || 0) + 1);
      }
      const got = new Map([...want.keys()].map((rank) => [rank, []]));
      let missing = chunk.count;
      let cursor = chunk.before;
      for (let page = 0; missing > 0 && page < kMaxReloadPages; page++) {
        const read = await getJson(runPath(this.runId, `/logs${query({ limit: 10_000, cursor: cursor || undefined })}`));
        if (!read.lines.length) break;
        for (const line of read.lines) {
          const texts = got.get(line.rank);
          if (texts && texts.length < want.get(line.rank)) {
            texts.push(line.text);
            missing--;
          }
        }
        cursor = read.next_cursor;
      }
      if (missing === 0 && this.chunks.includes(chunk)) {
        const taken = new Map();
        const texts = new Array(chunk.count);
        for (let k = 0; k < chunk.count; k++) {
          const rank = this.ranks[chunk.start + k];
          const n = taken.get(rank) || 0;
          texts[k] = got.get(rank)[n];
          taken.set(rank, n + 1);
        }
        chunk.texts = texts;
        this.resident += texts.length;
        this.evict(chunk);
        this.onChange();
      }
    } finally {
      chunk.loading = false;
    }
  }

  // Lets go of the texts of the chunks seen least recently until at most kResidentLines are
  // held; never the chunk still growing, nor `keep`.
  evict(keep = null) {
    while (this.resident > kResidentLines) {
      let oldest = null;
      for (const chunk of this.chunks) {
        if (chunk.texts && chunk.after !== null && chunk !== keep && (!oldest || chunk.seen < oldest.seen)) {
          oldest = chunk;
        }
      }
      if (!oldest) return;
      this.resident -= oldest.count;
      oldest.texts = null;
    }
  }

  // Drops whole chunks from the front, at least `n` lines; returns how many.
  dropFront(n) {
    let count = 0;
    let chunks = 0;
    while (chunks < this.chunks.length - 1 && count < n) count += this.chunks[chunks++].count;
    for (const chunk of this.chunks.splice(0, chunks)) {
      if (chunk.texts) this.resident -= chunk.count;
    }
    for (const chunk of this.chunks) chunk.start -= count;
    this.ranks.copyWithin(0, count, this.length);
    this.times.copyWithin(0, count, this.length);
    this.flags.copyWithin(0, count, this.length);
    this.length -= count;
    this.dropped += count;
    return count;
  }
}

// The indices of the lines a filter lets through, kept as lines arrive.
export class LogView {
  constructor(buffer, ranks) {
    this.buffer = buffer;
    this.ranks = ranks; // Set of shown ranks, or null for all
    this.index = new Int32Array(4096);
    this.length = 0;
    this.seen = 0; // buffer lines considered
    this.catchUp();
  }

  // The environment's build (rank -1) is shown whatever ranks are chosen.
  passes(i) {
    const rank = this.buffer.ranks[i];
    return this.ranks === null || rank < 0 || this.ranks.has(rank);
  }

  catchUp() {
    const { buffer } = this;
    for (let i = this.seen; i < buffer.length; i++) {
      if (!this.passes(i)) continue;
      if (this.length === this.index.length) {
        const next = new Int32Array(this.index.length * 2);
        next.set(this.index);
        this.index = next;
      }
      this.index[this.length++] = i;
    }
    this.seen = buffer.length;
  }

  // After the buffer forgot its lines from `length` on.
  truncate(length) {
    while (this.length > 0 && this.index[this.length - 1] >= length) this.length--;
    this.seen = Math.min(this.seen, length);
  }

  // After the buffer dropped n lines from its front.
  shift(n) {
    let keep = 0;
    for (let j = 0; j < this.length; j++) {
      const i = this.index[j] - n;
      if (i >= 0) this.index[keep++] = i;
    }
    this.length = keep;
    this.seen = Math.max(0, this.seen - n);
  }

  line(j) {
    return this.index[j];
  }
}

// The first shown line that looks like an error (a traceback; a word ending in "Error" or
// "Exception", as ValueError or RuntimeError: ...; FAILED, Fatal, panic), found as lines
// arrived, so also among lines whose text the page no longer holds; -1 when none does.
export function firstError(view) {
  for (let j = 0; j < view.length; j++) {
    if (view.buffer.looksLikeError(view.line(j))) return j;
  }
  return -1;
}

// The positions in `view` of the lines holding `text` (case-insensitive), among the lines
// whose text is held; {hits, unsearched: how many shown lines were not held}.
export function findAll(view, text, limit = 100_000) {
  const hits = [];
  let unsearched = 0;
  if (!text) return { hits, unsearched };
  const needle = text.toLowerCase();
  const { buffer } = view;
  for (let j = 0; j < view.length && hits.length < limit; j++) {
    const i = view.line(j);
    const chunk = buffer.chunkOf(i);
    if (!chunk.texts) {
      unsearched++;
      continue;
    }
    if (chunk.texts[i - chunk.start].toLowerCase().includes(needle)) hits.push(j);
  }
  return { hits, unsearched };
}
