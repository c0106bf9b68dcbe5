// The SSE writer of one client stream: a byte budget (STREAM_BUFFER_SIZE) returned to the worker as credit.
//
// Contract with the sink (uWebSockets.js semantics): write() always takes the whole chunk and returns false
// when it had to buffer part of it. The writer then stops writing and grants no credit until onWritable
// reports a write that was taken in full; the worker, out of credit, pauses the upstream body.
//
// A corked write under uWS's 16 KB cork buffer returns true even when the uncork then sends only part of it:
// the rest waits in uWS's own buffer. So the bytes of the latest write that returned true are not credited
// yet: the next write that returns true proves them sent (uWS drains its buffer before it takes a new
// chunk, and reports false when it cannot). And uWS calls onWritable only while it holds bytes; it does not
// drain them by itself when a handler is registered, so onWritable always writes (what is queued, or a probe).
import { creditLump } from '../../workers/protocol.js';

export interface Sink {
  /** Writes (always takes the chunk); false means backpressure was added. */
  write(chunk: string): boolean;
  /** Writes the last chunk and ends the response. */
  end(chunk: string): void;
  /** Drops the connection. */
  close(): void;
}

/** The smallest SSE no-op: a comment line. Written only to make the sink flush and report when drained. */
const PROBE = ':\n';

export class SseWriter {
  #blocked = false;
  /** Bytes handed to the sink while blocked: not yet confirmed sent. */
  #held = 0;
  /** Bytes of the latest write that returned true: maybe still in the sink's own buffer. */
  #unconfirmed = 0;
  #queue: string[] = [];
  #queued = 0;
  #ended = false;
  #started = false;
  /** performance.now() of the last write or drain progress. */
  lastActivity = performance.now();
  lastWrite = performance.now();
  bytes = 0;

  /** Bytes the client has taken that were not yet returned to the worker as credit. */
  #ungranted = 0;
  readonly #grantAt: number;

  /**
   * `budget` is the worker's credit (STREAM_BUFFER_SIZE). Credit for bytes the client took is returned in
   * lumps (creditLump, the policy the worker resumes by), not per write: a paced stream costs one credit
   * message per lump, not one per event.
   */
  constructor(
    private readonly sink: Sink,
    private readonly grant: (n: number) => void,
    budget: number,
  ) {
    this.#grantAt = creditLump(budget);
  }

  #taken(n: number): void {
    this.#ungranted += n;
    if (this.#ungranted >= this.#grantAt) {
      this.grant(this.#ungranted);
      this.#ungranted = 0;
    }
  }

  get blocked(): boolean {
    return this.#blocked;
  }
  get ended(): boolean {
    return this.#ended;
  }
  /** Something (events or a heartbeat) was written: the 200 and its headers are out. */
  get started(): boolean {
    return this.#started;
  }
  /** Bytes in the proxy for this stream not yet handed to the kernel (held by the sink, unconfirmed, or queued). */
  get pending(): number {
    return this.#held + this.#unconfirmed + this.#queued;
  }

  /** Writes to the sink; true: everything written before this chunk has left the sink. */
  #write(chunk: string, n: number): boolean {
    this.#started = true;
    if (!this.sink.write(chunk)) {
      this.#blocked = true;
      this.#held += n;
      return false;
    }
    const sent = this.#held + this.#unconfirmed;
    this.#held = 0;
    this.#unconfirmed = n;
    if (sent > 0) this.#taken(sent);
    return true;
  }

  /** Events from the worker: `n` is their UTF-8 size, the credit they used. */
  push(chunk: string, n: number): void {
    if (this.#ended) return;
    this.bytes += n;
    if (this.#blocked) {
      this.#queue.push(chunk);
      this.#queued += n;
      return;
    }
    this.lastWrite = this.lastActivity = performance.now();
    this.#write(chunk, n);
  }

  /** A keep-alive comment, only when the stream is idle and not backed up (it uses no credit). */
  heartbeat(text: string): void {
    if (this.#ended || this.#blocked) return;
    this.lastWrite = performance.now();
    this.#write(text, 0);
  }

  /**
   * The sink holds bytes and can take more: hand it what is queued, or a probe when nothing is (a write is
   * what makes it drain), and return the credit of what that proved sent.
   */
  onWritable(): boolean {
    if (this.#ended) return true;
    this.lastActivity = performance.now();
    let chunk = PROBE;
    let n = 0;
    if (this.#queue.length > 0) {
      chunk = this.#queue.length === 1 ? this.#queue[0]! : this.#queue.join('');
      n = this.#queued;
      this.#queue = [];
      this.#queued = 0;
    }
    this.#blocked = false;
    return this.#write(chunk, n);
  }

  /** Ends the response after what is queued, with the terminal text ([DONE] and/or an error event). */
  end(terminal: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const rest = this.#queue.join('') + terminal;
    this.#queue = [];
    this.#queued = 0;
    this.#started = true;
    this.sink.end(rest);
  }

  /** Marks the stream over without touching the sink (the client is gone). */
  abandon(): void {
    this.#ended = true;
    this.#queue = [];
    this.#queued = 0;
  }
}
