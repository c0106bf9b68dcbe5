// The fast path of the relay: what one event's `data:` bytes are, read without decoding or parsing them when they carry nothing the relay needs.
//
// Most chunks carry no finish_reason, no usage and no error: they are forwarded as they came. A chunk is read
// (decoded and parsed, inspect.ts) only when one of those keys has a non-null value, and for the opt-in
// transforms. A value that is not `{…}` is skipped as malformed; one that is `{…}` but not valid JSON is
// forwarded (the price of not parsing every event; upstreams send such events rarely, if ever).

/** What a `data:` value is: nothing to forward, the end, a chunk to forward as is, or a chunk to read first. */
export type Peeked = 'ping' | 'done' | 'malformed' | 'plain' | 'read';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const N = 0x6e;

/** Keys whose non-null value the relay must read, and what a value must start with to count. */
const KEYS: ReadonlyArray<{ needle: Buffer; wants: (c: number) => boolean }> = [
  { needle: Buffer.from('"finish_reason"'), wants: (c) => c === QUOTE },
  { needle: Buffer.from('"usage"'), wants: (c) => c === BRACE },
  { needle: Buffer.from('"error"'), wants: (c) => c !== N },
];
const DONE = Buffer.from('[DONE]');

const isSpace = (c: number | undefined): boolean => c !== undefined && c <= 0x20;

/**
 * Classifies the data value `b[s, e)`. Searches for the keys are remembered per buffer (events are peeked in
 * order), so each key costs one pass over a read however many events it holds.
 */
export class Peek {
  #buf: Buffer | null = null;
  /** Per key: the next occurrence at or after the last position asked (-1: none in the rest of the buffer). */
  readonly #next = KEYS.map(() => -2);

  /** Drops the remembered read (so it is not kept alive between reads). */
  forget(): void {
    this.#buf = null;
  }

  classify(b: Buffer, s: number, e: number): Peeked {
    while (s < e && isSpace(b[s])) s++;
    while (e > s && isSpace(b[e - 1])) e--;
    if (s === e || b[s] === COLON) return 'ping';
    if (b[s] !== BRACE) return e - s === DONE.length && b.compare(DONE, 0, DONE.length, s, e) === 0 ? 'done' : 'malformed';
    if (b[e - 1] !== CLOSE_BRACE) return 'malformed';
    if (this.#buf !== b) {
      this.#buf = b;
      this.#next.fill(-2);
    }
    for (let k = 0; k < KEYS.length; k++) if (this.#hasValue(k, b, s, e)) return 'read';
    return 'plain';
  }

  /** Whether key k occurs in [s, e) as a key (not inside an escaped string) with a value it wants. */
  #hasValue(k: number, b: Buffer, s: number, e: number): boolean {
    const { needle, wants } = KEYS[k]!;
    let at = this.#next[k]!;
    for (;;) {
      if (at !== -1 && at < s) at = b.indexOf(needle, s);
      this.#next[k] = at;
      if (at === -1 || at >= e) return false;
      let p = at + needle.length;
      while (p < e && isSpace(b[p])) p++;
      if (b[at - 1] !== BACKSLASH && b[p] === COLON) {
        p++;
        while (p < e && isSpace(b[p])) p++;
        if (p < e && wants(b[p]!)) return true;
      }
      at = b.indexOf(needle, at + 1);
    }
  }
}
