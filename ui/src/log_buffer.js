// The lines of a run's log as the page holds them: columns in typed arrays (rank, time,
// stream) and the texts, so a million lines cost little more than their text. At most
// kMaxLines are kept: past that the oldest tenth is dropped (the whole log stays
// downloadable from the Outputs of the run directory and through the API).
export const kMaxLines = 1_000_000;

export class LogBuffer {
  constructor() {
    this.capacity = 4096;
    this.ranks = new Int32Array(this.capacity);
    this.times = new Float64Array(this.capacity);
    this.errs = new Uint8Array(this.capacity);
    this.texts = [];
    this.length = 0;
    this.dropped = 0; // lines dropped from the front
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
    this.errs = grow(Uint8Array, this.errs);
  }

  // Returns how many lines were dropped from the front to make room (0 mostly).
  push(line) {
    let dropped = 0;
    if (this.length >= kMaxLines) dropped = this.dropFront(Math.floor(kMaxLines / 10));
    if (this.length === this.capacity) this.grow();
    const i = this.length++;
    this.ranks[i] = line.rank;
    this.times[i] = line.time;
    this.errs[i] = line.stream === 'stderr' ? 1 : 0;
    this.texts.push(line.text);
    return dropped;
  }

  dropFront(n) {
    this.ranks.copyWithin(0, n, this.length);
    this.times.copyWithin(0, n, this.length);
    this.errs.copyWithin(0, n, this.length);
    this.texts.splice(0, n);
    this.length -= n;
    this.dropped += n;
    return n;
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

  passes(i) {
    return this.ranks === null || this.ranks.has(this.buffer.ranks[i]);
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

const kErrorPattern = /Traceback \(most recent call last\)|[A-Za-z]*(Error|Exception)\b|\b(FAILED|Fatal|panic)\b/;

// The first shown line that looks like an error: a traceback, or a word ending in "Error"
// or "Exception" (ValueError, RuntimeError: ...), on stderr or stdout; -1 when none does.
export function firstError(view) {
  const { buffer } = view;
  for (let j = 0; j < view.length; j++) {
    if (kErrorPattern.test(buffer.texts[view.line(j)])) return j;
  }
  return -1;
}

// The positions in `view` of the lines holding `text` (case-insensitive).
export function findAll(view, text, limit = 100_000) {
  const out = [];
  if (!text) return out;
  const needle = text.toLowerCase();
  const { buffer } = view;
  for (let j = 0; j < view.length && out.length < limit; j++) {
    if (buffer.texts[view.line(j)].toLowerCase().includes(needle)) out.push(j);
  }
  return out;
}
