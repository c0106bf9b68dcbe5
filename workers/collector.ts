// A whole upstream body in memory, under a cap: the non-stream answer (over the cap: a failure) or an error body (kept truncated).
import { decodeSync } from './bodies.js';

export type Collected = { ok: true; body: Buffer } | { ok: false; code: 'response_too_large' | 'upstream_bad_response' };

export class BodyCollector {
  #chunks: Buffer[] = [];
  #size = 0;
  #over = false;

  /**
   * `truncate`: keep the first `cap` bytes and drop the rest (an error body only needs its start);
   * otherwise a body over the cap is a failure.
   */
  constructor(
    private readonly cap: number,
    private readonly truncate: boolean,
  ) {}

  /** True once the body passed the cap of a non-truncating collector (the caller may stop reading). */
  get full(): boolean {
    return this.#over && !this.truncate;
  }

  push(chunk: Buffer): void {
    if (this.#over) return;
    const room = this.cap - this.#size;
    if (chunk.length > room) {
      this.#over = true;
      if (!this.truncate || room <= 0) return;
      chunk = chunk.subarray(0, room);
    }
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The body, decoded per its content-encoding (decoding is checked against the cap again). */
  finish(encoding: string): Collected {
    if (this.full) return { ok: false, code: 'response_too_large' };
    const raw = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    let body: Buffer;
    try {
      body = decodeSync(encoding, raw, this.cap);
    } catch (e) {
      return { ok: false, code: e instanceof RangeError ? 'response_too_large' : 'upstream_bad_response' };
    }
    return { ok: true, body };
  }
}
