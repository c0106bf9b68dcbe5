// What an event too large to hold says, read from its pieces as they go by: the keys peek.ts looks for, found across piece boundaries, their values read from a small window after each.
//
// An event larger than the relay may hold (relay.ts PASS_BYTES) leaves in pieces as the upstream sends it, so it
// is never parsed whole. The relay still needs what it carries: a finish_reason (a stream that ends without
// [DONE] after one is complete), a usage object (token accounting) and an error (the stream ends with it). Those
// values are short and follow their key, so the window after each key is enough to read them.
import { KEY_VALUE } from './peek.js';
import { JsonCut } from './json-cut.js';

/** The keys, searched in the bytes (no text is made of a piece: a 64 KB event's pieces as strings filled the heap). */
const KEYS = [Buffer.from('"finish_reason"'), Buffer.from('"usage"'), Buffer.from('"error"')];
const KEY_TEXTS = KEYS.map((k) => k.toString('latin1'));
/** The last bytes of a piece, kept to find a key cut by the piece boundary (the longest key less one). */
const CARRY = 14;
/** Bytes kept from each key on: the key and its value (a usage object, an error, a finish_reason). */
const WINDOW = 2048;
/** Keys whose windows are kept; a chunk carries one of each at most. */
const MAX_WINDOWS = 8;
const BACKSLASH = 0x5c;

export interface PassedSays {
  readonly finishReason: string | null;
  /** The usage object, parsed (null: none, or not readable in its window). */
  readonly usage: unknown;
  /** The error's value (null: none); `true` when the key was there but its value could not be read. */
  readonly error: unknown;
  /** The data ended as a JSON object ends (`}`): if not, the event was malformed (its bytes went out already). */
  readonly object: boolean;
}

export class PassedEvent {
  /** The last CARRY bytes seen, as latin1 text (one character per byte). */
  #carry = '';
  /** The window of each key found, from its opening quote (latin1 text of the bytes). */
  readonly #windows: string[] = [];
  /** Characters each window still takes from the next pieces. */
  readonly #owed: number[] = [];
  /** The last byte that is not whitespace. */
  #last = 0;
  /** The JSON's structure so far (what closes it, if the stream is cut inside it). */
  readonly #json = new JsonCut();

  /** The next piece of the event, `b[s, e)`. */
  feed(b: Buffer, s: number, e: number): void {
    if (e <= s) return;
    for (let i = e - 1; i >= s; i--) {
      const c = b[i]!;
      if (c > 0x20) {
        this.#last = c;
        break;
      }
    }
    this.#json.track(b, s, e);
    for (let i = 0; i < this.#owed.length; i++) {
      const n = Math.min(this.#owed[i]!, e - s);
      if (n === 0) continue;
      this.#windows[i] += b.toString('latin1', s, s + n);
      this.#owed[i]! -= n;
    }
    // a key cut by the boundary: in the carry and this piece's first bytes (a small text)
    const carry = this.#carry;
    if (carry.length > 0) {
      const probe = carry + b.toString('latin1', s, Math.min(e, s + CARRY));
      for (const key of KEY_TEXTS) {
        const at = probe.indexOf(key);
        if (at >= 0 && at < carry.length && at + key.length > carry.length) this.#window(probe.charCodeAt(at - 1), probe.slice(at, carry.length), b, s, e);
      }
    }
    // keys wholly in this piece
    for (const key of KEYS)
      for (let at = b.indexOf(key, s); at >= 0 && at + key.length <= e; at = b.indexOf(key, at + 1))
        this.#window(at > s ? b[at - 1]! : carry.charCodeAt(carry.length - 1), '', b, at, e);
    const keep = b.toString('latin1', Math.max(s, e - CARRY), e);
    this.#carry = keep.length >= CARRY ? keep : (carry + keep).slice(-CARRY);
  }

  /** A key's window: `start` (its first bytes, from an earlier piece) and b[from, …); `before` the byte before it. */
  #window(before: number, start: string, b: Buffer, from: number, e: number): void {
    if (before === BACKSLASH || this.#windows.length >= MAX_WINDOWS) return; // (a quote inside a string)
    const w = start + b.toString('latin1', from, Math.min(e, from + WINDOW - start.length));
    this.#windows.push(w);
    this.#owed.push(WINDOW - w.length);
  }

  /** What makes the event's JSON so far valid, cut where it is (json-cut.ts). */
  repair(): string {
    return this.#json.repair();
  }

  /** What the event said, once its last piece went by. */
  says(): PassedSays {
    let finishReason: string | null = null;
    let usage: unknown = null;
    let error: unknown = null;
    for (const w of this.#windows) {
      if (!KEY_VALUE.test(w)) continue; // (a null value, or not a key)
      const v = valueAt(w);
      if (w.startsWith('"finish_reason"')) {
        if (typeof v === 'string') finishReason = v;
      } else if (w.startsWith('"usage"')) {
        if (typeof v === 'object' && v !== null) usage = v;
      } else if (error === null) error = v ?? true;
    }
    return { finishReason, usage, error, object: this.#last === 0x7d };
  }
}

/** The JSON value after a window's key and colon (latin1 text of UTF-8 bytes), or undefined if the window cut it. */
function valueAt(w: string): unknown {
  let i = w.indexOf(':') + 1;
  while (i < w.length && w.charCodeAt(i) <= 0x20) i++;
  const end = valueEnd(w, i);
  if (end < 0) return undefined;
  try {
    return JSON.parse(Buffer.from(w.slice(i, end), 'latin1').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Where the JSON value starting at `i` ends (exclusive), strings and nesting followed; -1 if not within `w`. */
function valueEnd(w: string, i: number): number {
  const c = w.charCodeAt(i);
  if (c !== 0x7b && c !== 0x5b && c !== 0x22) {
    // a number, true, false: up to the next delimiter
    let j = i;
    while (j < w.length && !',}] \t\r\n'.includes(w[j]!)) j++;
    return j < w.length ? j : -1;
  }
  let depth = 0;
  let inString = false;
  for (let j = i; j < w.length; j++) {
    const ch = w.charCodeAt(j);
    if (inString) {
      if (ch === 0x5c) j++;
      else if (ch === 0x22) {
        inString = false;
        if (depth === 0) return j + 1;
      }
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) depth++;
    else if (ch === 0x7d || ch === 0x5d) {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}
