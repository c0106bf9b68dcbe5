// Splits upstream SSE bytes into whole events, as byte ranges (scan) or decoded (push), across reads, line endings and UTF-8.
import { keepable } from './keep.js';


export interface FramedEvent {
  /** The event's text exactly as received, including its terminating blank line, decoded as UTF-8. */
  raw: string;
  /** The joined value of its `data:` fields (lines joined with \n; one optional space after the colon
   * removed), or null when the event has no data field (comment-only / other fields). */
  data: string | null;
}

/**
 * One whole event as bytes: `buf[start, end)` is the event exactly as received, blank line included. `simple`:
 * it is one LF-terminated line and its blank line (then a `data:` value is the line minus its prefix).
 * An event that lies wholly in the read is a range of that read (no copy); one that spanned reads is a fresh
 * buffer of its own. Either may be kept by the callee.
 */
export type EventSink = (buf: Buffer, start: number, end: number, simple: boolean) => void;

/**
 * A piece of an event too large to hold (`passAfter`), handed on as it arrives: `buf[start, end)`, in order, views of
 * the reads. `last`: the piece that ends the event (its blank line included; empty when the upstream ended without
 * one, at flushTo).
 */
export type PieceSink = (buf: Buffer, start: number, end: number, last: boolean) => void;

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

// Scanner states, carried from one read to the next.
/** At the start of a line: a terminator here is the blank line that ends the event. */
const LINE_START = 0;
/** Inside a non-empty line, looking for its terminator. */
const IN_LINE = 1;
/** A non-empty line ended with CR at the end of a read: one LF after it belongs to the same break. */
const AFTER_CR = 2;
/** The blank line was a CR at the end of a read: the event is complete, but an LF after it is its own. */
const BLANK_CR = 3;

/** An event held up to this size is copied into a small buffer kept for reuse; beyond it, the reads it lies in are
 * held as they are (views) and joined once, when the event ends. */
const KEEP_BYTES = 1024;

const D = 0x64;
const A = 0x61;
const T = 0x74;
const BRACE = 0x7b;
const EMPTY = Buffer.alloc(0);

export class SseFramer {
  readonly #max: number;
  /** The small held event (≤ KEEP_BYTES), copied in; reused from one event to the next. */
  #held: Buffer | null = null;
  /** A larger held event: its pieces, views of the reads (the first one the small buffer's bytes, copied out). */
  #parts: Buffer[] = [];
  #heldLen = 0;
  #state = LINE_START;
  /** Lines of the event in progress so far, and whether a CR ended any of them. */
  #lines = 0;
  #cr = false;
  #overflowed = false;
  /** An event larger than this is handed on in pieces (0: never), if it is a `data:` line of a JSON object. */
  readonly #passAfter: number;
  /** The event in progress is being handed on in pieces; its bytes so far (for the cap). */
  #passing = false;
  #passedLen = 0;
  /** Scratch list of event ends, reused by every push: only #endCount of it is in use (setting an array's
   * length to 0 would free its store, and the next push allocate a new one: per read). */
  readonly #ends: number[] = [];
  #endCount = 0;

  /**
   * `passAfter`: with a PieceSink given to scan, an event whose first line is a `data:` line of a JSON object and
   * that grows past this many bytes is no longer held: what is held goes out, and the rest as each read brings it.
   */
  constructor(maxEventBytes: number, passAfter = 0) {
    if (!(maxEventBytes >= 1)) throw new RangeError(`maxEventBytes must be >= 1, got ${maxEventBytes}`);
    this.#max = Math.floor(maxEventBytes);
    this.#passAfter = passAfter > 0 ? Math.floor(passAfter) : 0;
  }

  /** Bytes held waiting for the end of an event. */
  get pending(): number {
    return this.#heldLen;
  }

  /** True once an event exceeded maxEventBytes; after that push() returns [] and drops input. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Feed one upstream read, decoded: the complete events it finished (possibly none). Throws never. */
  push(chunk: Uint8Array): FramedEvent[] {
    const out: FramedEvent[] = [];
    this.scan(chunk, (b, s, e, simple) => {
      const raw = b.toString('utf8', s, e);
      out.push({ raw, data: simple ? lineData(raw) : dataOf(raw) });
    });
    return out;
  }

  /**
   * Feed one upstream read: `onEvent` hears each complete event it finished, as bytes, in order; `onPiece` (if
   * given) the pieces of an event too large to hold, in the same order. Throws never.
   */
  scan(chunk: Uint8Array, onEvent: EventSink, onPiece?: PieceSink): void {
    const end = chunk.length;
    if (this.#overflowed || end === 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, end);
    // Ends (exclusive) of the events that lie wholly in this read, from `first`; negated unless the
    // event is one LF-terminated line (then its data, if any, is a plain slice).
    const ends = this.#ends;
    this.#endCount = 0;
    let first = 0;
    let state = this.#state;
    let lines = this.#lines;
    let cr = this.#cr;
    let pos = 0;
    let evStart = 0;
    // Next LF / CR at or after pos (end: none in this read); each indexOf runs over each byte once.
    let nextLf = -1;
    let nextCr = -1;
    for (;;) {
      let stop = -1; // end (exclusive) of the event that completes here, -1: need more bytes
      scan: for (;;) {
        if (state === LINE_START) {
          if (pos >= end) break;
          const c = b[pos];
          if (c === LF) { stop = pos + 1; break; }
          if (c === CR) {
            cr = true;
            if (++pos >= end) { state = BLANK_CR; break; }
            stop = b[pos] === LF ? pos + 1 : pos;
            break;
          }
          state = IN_LINE;
        }
        if (state === IN_LINE) {
          if (nextLf < pos) { nextLf = b.indexOf(LF, pos); if (nextLf < 0) nextLf = end; }
          if (nextCr < pos) { nextCr = b.indexOf(CR, pos); if (nextCr < 0) nextCr = end; }
          const i = nextLf < nextCr ? nextLf : nextCr;
          if (i >= end) { pos = end; break; }
          pos = i + 1;
          lines++;
          if (i === nextLf) { state = LINE_START; continue; }
          cr = true;
          state = AFTER_CR;
        }
        if (state === AFTER_CR) {
          if (pos >= end) break;
          if (b[pos] === LF) pos++;
          state = LINE_START;
          continue;
        }
        // BLANK_CR: the event is complete; it takes one LF more if one follows.
        if (pos < end) stop = b[pos] === LF ? pos + 1 : pos;
        break scan;
      }
      if (stop < 0) break;
      if (this.#passing) { // its start went on already: the rest of it goes too
        this.#passing = false;
        if (!this.#passes(stop)) return;
        onPiece!(b, 0, stop, true);
        first = stop;
      } else if (this.#heldLen > 0) { // it began in an earlier read: a copy of its own, made once
        if (!this.#append(b, 0, stop)) return;
        const whole = this.#takeHeld();
        // (one LF-terminated line is simple whichever reads it spanned: so it takes the relay's fast path, and what
        // becomes of it does not depend on where the reads split it)
        onEvent(whole, 0, whole.length, lines === 1 && !cr);
        first = stop;
      } else if (stop - evStart > this.#max) {
        this.#emit(onEvent, b, first);
        this.#overflow();
        return;
      } else {
        ends[this.#endCount++] = lines === 1 && !cr ? stop : -stop;
      }
      evStart = pos = stop;
      state = LINE_START;
      lines = 0;
      cr = false;
    }
    if (this.#endCount > 0) this.#emit(onEvent, b, first);
    this.#state = state;
    this.#lines = lines;
    this.#cr = cr;
    if (evStart >= end) return;
    if (this.#passing) {
      if (this.#passes(end - evStart)) onPiece!(b, evStart, end, false);
    } else if (this.#append(b, evStart, end) && onPiece !== undefined && this.#heldLen > this.#passAfter && this.#passAfter > 0
      && lines === 0 && this.#isJsonDataLine()) {
      this.#startPassing(onPiece);
    }
  }

  /** Counts `n` more bytes of the event being handed on; false (overflowed) past the cap. */
  #passes(n: number): boolean {
    this.#passedLen += n;
    if (this.#passedLen <= this.#max) return true;
    this.#overflow();
    return false;
  }

  /** The held event's first line begins `data:` and its value `{` (one optional space between). */
  #isJsonDataLine(): boolean {
    const v = this.#heldByte(5) === SPACE ? 6 : 5;
    return this.#heldByte(0) === D && this.#heldByte(1) === A && this.#heldByte(2) === T && this.#heldByte(3) === A
      && this.#heldByte(4) === COLON && this.#heldByte(v) === BRACE;
  }

  /** Byte `i` of the held event (its first piece may be only a few bytes long). */
  #heldByte(i: number): number | undefined {
    if (this.#parts.length === 0) return i < this.#heldLen ? (this.#held as Buffer)[i] : undefined;
    for (const p of this.#parts) {
      if (i < p.length) return p[i];
      i -= p.length;
    }
    return undefined;
  }

  /** What is held of the event goes on as pieces (the views it holds, no copy); the rest follows read by read. */
  #startPassing(onPiece: PieceSink): void {
    // (the small buffer is reused: its bytes go as a copy)
    const parts = this.#parts.length > 0 ? this.#parts : [Buffer.from((this.#held as Buffer).subarray(0, this.#heldLen))];
    this.#passedLen = this.#heldLen;
    this.#passing = true;
    this.#parts = [];
    this.#heldLen = 0;
    for (const p of parts) onPiece(p, 0, p.length, false);
  }

  /** Call at upstream end: returns a final event if the remaining bytes form one without its blank line
   * (many servers omit the last one), else null. */
  flush(): FramedEvent | null {
    let out: FramedEvent | null = null;
    this.flushTo((b, s, e) => {
      const raw = b.toString('utf8', s, e);
      out = { raw, data: dataOf(raw) };
    });
    return out;
  }

  /** flush() as bytes: `onEvent` hears the final event without its blank line, if there is one. */
  flushTo(onEvent: EventSink, onPiece?: PieceSink): void {
    if (this.#passing) { // the event handed on ends here, without its blank line
      this.#passing = false;
      this.#state = LINE_START;
      this.#lines = 0;
      this.#cr = false;
      onPiece!(EMPTY, 0, 0, true);
      return;
    }
    if (this.#overflowed || this.#heldLen === 0) return;
    const last = this.#takeHeld();
    this.#state = LINE_START;
    this.#lines = 0;
    this.#cr = false;
    onEvent(last, 0, last.length, false);
  }

  /** Hands on the events of `#ends`, which lie back to back in b from `first`. */
  #emit(onEvent: EventSink, b: Buffer, first: number): void {
    const ends = this.#ends;
    const n = this.#endCount;
    this.#endCount = 0;
    let prev = first;
    for (let k = 0; k < n; k++) {
      const e = ends[k] as number;
      const stop = e < 0 ? -e : e;
      onEvent(b, prev, stop, e > 0);
      prev = stop;
    }
  }

  /**
   * Appends bytes [s, e) of b to the held bytes, or overflows when the event would pass the cap. A small event is
   * copied into the reused buffer; a larger one keeps the reads it lies in (each copied out of the socket once
   * already; a piece that is a small part of its read is copied, workers/keep.ts) and is joined once at its end:
   * growing one buffer by copies cost about three times the event (64 KB events: 2 GB allocated for 620 MB read).
   */
  #append(b: Buffer, s: number, e: number): boolean {
    const need = this.#heldLen + (e - s);
    if (need > this.#max) { this.#overflow(); return false; }
    if (need <= KEEP_BYTES) {
      let h = this.#held;
      if (h === null || h.length < need) {
        const cap = Math.min(KEEP_BYTES, Math.max(need, Math.floor((h === null ? 0 : h.length) * 1.5), 256));
        const nh = Buffer.allocUnsafeSlow(cap);
        if (h !== null && this.#heldLen > 0) h.copy(nh, 0, 0, this.#heldLen);
        this.#held = h = nh;
      }
      b.copy(h, this.#heldLen, s, e);
    } else {
      if (this.#parts.length === 0 && this.#heldLen > 0) this.#parts.push(Buffer.from((this.#held as Buffer).subarray(0, this.#heldLen)));
      this.#parts.push(keepable(b.subarray(s, e)));
    }
    this.#heldLen = need;
    return true;
  }

  /** The held event, handed on: a copy of the small buffer's bytes, or the pieces joined (one copy), or the one piece. */
  #takeHeld(): Buffer {
    const n = this.#heldLen;
    const parts = this.#parts;
    let out: Buffer;
    if (parts.length === 0) {
      out = Buffer.allocUnsafe(n);
      (this.#held as Buffer).copy(out, 0, 0, n);
    } else {
      out = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
      this.#parts = [];
    }
    this.#heldLen = 0;
    return out;
  }

  #overflow(): void {
    this.#overflowed = true;
    this.#passing = false;
    this.#heldLen = 0;
    this.#held = null;
    this.#parts = [];
  }
}

/** Data of an event known to be one line and a blank line, LF-terminated: a slice when it is `data:`. */
function lineData(raw: string): string | null {
  if (!raw.startsWith('data:')) return dataOf(raw);
  return raw.slice(raw.charCodeAt(5) === SPACE ? 6 : 5, raw.length - 2);
}

/** The joined `data` field values of one event's text, or null when it has none (SSE field rules). */
export function dataOf(raw: string): string | null {
  const n = raw.length;
  // Fast path: `data:<value>\n\n` with no other line break.
  if (n >= 7 && raw.charCodeAt(n - 1) === LF && raw.charCodeAt(n - 2) === LF && raw.startsWith('data:')
    && raw.indexOf('\n', 5) === n - 2 && raw.indexOf('\r', 5) === -1) {
    return raw.slice(raw.charCodeAt(5) === SPACE ? 6 : 5, n - 2);
  }
  let data: string | null = null;
  let pos = 0;
  let nextLf = -1;
  let nextCr = -1;
  while (pos < n) {
    if (nextLf < pos) { nextLf = raw.indexOf('\n', pos); if (nextLf < 0) nextLf = n; }
    if (nextCr < pos) { nextCr = raw.indexOf('\r', pos); if (nextCr < 0) nextCr = n; }
    const eol = nextLf < nextCr ? nextLf : nextCr;
    if (eol === pos) break; // the blank line: the event ends here
    if (raw.startsWith('data', pos)) {
      const after = pos + 4;
      if (after === eol || raw.charCodeAt(after) === COLON) {
        let vs = after === eol ? eol : after + 1;
        if (vs < eol && raw.charCodeAt(vs) === SPACE) vs++;
        const v = raw.slice(vs, eol);
        data = data === null ? v : data + '\n' + v;
      }
    }
    pos = eol + (eol === nextCr && raw.charCodeAt(eol + 1) === LF ? 2 : 1);
  }
  return data;
}
