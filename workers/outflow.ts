// A stream's bytes toward the main thread, within its credit: what does not fit waits here, in pieces, until credit returns.
import { creditLump } from './protocol.js';
import { keepable } from './keep.js';
import type { ReadBound } from './connector.js';

/** Also the bound on what the stream's upstream socket reads ahead (workers/connector.ts): no more than the credit. */
export class Outflow implements ReadBound {
  #credit: number;
  readonly #lump: number;
  #pending: Uint8Array[] = [];
  /** Whether each piece of #pending ends inside an event (a piece of an event too large to hold, relay.ts). */
  #pendingMid: boolean[] = [];

  /**
   * `budget` is the stream's credit (STREAM_BUFFER_SIZE); `send` hands bytes to the main thread, `cut` when
   * they end inside an event (the rest of it follows once credit returns).
   */
  constructor(
    budget: number,
    private readonly send: (chunk: Uint8Array, cut: boolean) => void,
  ) {
    this.#credit = budget;
    this.#lump = creditLump(budget);
  }

  /** The credit left (at most 0 while bytes wait here). */
  get allowance(): number {
    return this.#credit;
  }
  /** The upstream reads only with a lump of credit free (as `grant` says when it may resume). */
  get readLump(): number {
    return this.#lump;
  }

  /** Bytes waiting here for credit. */
  get pending(): number {
    let n = 0;
    for (const p of this.#pending) n += p.byteLength;
    return n;
  }

  /**
   * Sends what the credit allows (an event larger than the credit goes in pieces) and keeps the rest.
   * `mid`: the chunk ends inside an event. False: the credit is used up, the upstream must pause.
   */
  write(chunk: Uint8Array, mid = false): boolean {
    if (this.#pending.length > 0) {
      this.#pending.push(chunk);
      this.#pendingMid.push(mid);
      return false;
    }
    this.#take(chunk, mid);
    return this.#credit > 0;
  }

  /** Credit returned by the main thread. True when the upstream may read again (nothing waits, a lump in hand). */
  grant(n: number): boolean {
    this.#credit += n;
    while (this.#pending.length > 0 && this.#credit > 0) this.#take(this.#pending.shift()!, this.#pendingMid.shift()!);
    return this.#pending.length === 0 && this.#credit >= this.#lump;
  }

  /** At the end of the stream: whatever waits goes out now (bounded by one upstream read), before the last word. */
  drain(): void {
    const rest = this.#pending;
    const mids = this.#pendingMid;
    this.#pending = [];
    this.#pendingMid = [];
    for (let i = 0; i < rest.length; i++) {
      this.#credit -= rest[i]!.byteLength;
      this.send(rest[i]!, mids[i]!);
    }
  }

  #take(chunk: Uint8Array, mid: boolean): void {
    const n = chunk.byteLength;
    if (n <= this.#credit) {
      this.#credit -= n;
      this.send(chunk, mid);
      return;
    }
    const now = Math.max(0, this.#credit);
    if (now > 0) this.send(chunk.subarray(0, now), true);
    this.#credit -= now;
    // what waits: a view of a large event's own buffer, a copy of a small rest of a larger one (workers/keep.ts);
    // copying every rest cost a 64 KB event granted back in 8 KB lumps about three times the event
    this.#pending.unshift(keepable(chunk.subarray(now)));
    this.#pendingMid.unshift(mid);
  }
}
