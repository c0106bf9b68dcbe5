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
import { creditLump, dataLength } from '../../workers/protocol.js';

export interface Sink {
  /** Writes (always takes the chunk, and `more` after it in the same send); false means backpressure was added. */
  write(chunk: Uint8Array | string, more?: readonly Uint8Array[]): boolean;
  /** Writes the last chunk and ends the response. */
  end(chunk: Uint8Array | string): void;
  /** Makes the sink send what it holds without writing anything (uWS: an empty cork); the outcome is not known. */
  flush(): void;
  /** Drops the connection. */
  close(): void;
}

/** The smallest SSE no-op: a comment line. Written only to make the sink flush and report when drained. */
const PROBE = ':\n';

/**
 * Writers whose latest bytes should be proven sent at the end of this turn (one timer for all of them). An array
 * replaced each turn, not a Set that is cleared: see workers/id-table.ts for what a Set's churn costs.
 */
let toConfirm: SseWriter[] = [];
function confirmAll(): void {
  const writers = toConfirm;
  toConfirm = [];
  for (const w of writers) w.confirm();
}

/** Where the writer returns credit (the stream's owner, which tells the worker). */
export interface CreditSink {
  grant(n: number): void;
}

export class SseWriter {
  #blocked = false;
  /** Bytes handed to the sink while blocked: not yet confirmed sent. */
  #held = 0;
  /** Bytes of the latest write that returned true: maybe still in the sink's own buffer. */
  #unconfirmed = 0;
  /** Chunks that arrived while the sink was backed up: copies, so a view never pins a larger buffer. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** The last queued chunk ends inside an event. */
  #queueCut = false;
  #ended = false;
  #started = false;
  /** In this turn's toConfirm list. */
  #toConfirm = false;
  /** The bytes written (or queued) last end inside an event: nothing else (a probe, a heartbeat) may follow them. */
  #midEvent = false;
  /** performance.now() of the last write or drain progress. */
  lastActivity = performance.now();
  lastWrite = performance.now();
  bytes = 0;

  /** Bytes the client has taken that were not yet returned to the worker as credit. */
  #ungranted = 0;
  /** Bytes pushed by the worker and not granted back: what the worker has used of its credit. */
  #outstanding = 0;
  readonly #grantAt: number;

  /**
   * `budget` is the worker's credit (STREAM_BUFFER_SIZE). Credit for bytes the client took is returned in
   * lumps (creditLump, the policy the worker resumes by), not per write: a paced stream costs one credit
   * message per lump, not one per event.
   */
  constructor(
    private readonly sink: Sink,
    private readonly credit: CreditSink,
    private readonly budget: number,
  ) {
    this.#grantAt = creditLump(budget);
  }

  #taken(n: number): void {
    this.#ungranted += n;
    if (this.#ungranted >= this.#grantAt) {
      this.credit.grant(this.#ungranted);
      this.#outstanding -= this.#ungranted;
      this.#ungranted = 0;
    }
  }

  /** The worker waits for credit that only the proof of the latest write would release. */
  get #starving(): boolean {
    return this.#unconfirmed > 0 && this.#outstanding > this.budget - this.#grantAt;
  }

  /**
   * At the end of the turn: if the worker still waits on the latest write's bytes, a probe proves them sent
   * (no other write may come: the worker cannot send until it has credit).
   */
  confirm(): void {
    this.#toConfirm = false;
    if (this.#ended || this.#blocked || !this.#starving) return;
    this.#write(PROBE, 0);
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

  /**
   * Writes to the sink; true: everything written before this chunk has left the sink. A chunk that ends inside
   * an event counts as sent at once: no probe may follow it to prove it, so its bytes may sit in uWS's buffer
   * beyond the budget (at most the 16 KiB cork buffer).
   */
  #write(chunk: Uint8Array | string, n: number, cut = false, more?: readonly Uint8Array[]): boolean {
    this.#started = true;
    this.#midEvent = cut;
    if (!this.sink.write(chunk, more)) {
      this.#blocked = true;
      this.#held += n;
      return false;
    }
    const sent = this.#held + this.#unconfirmed + (cut ? n : 0);
    this.#held = 0;
    this.#unconfirmed = cut ? 0 : n;
    if (sent > 0) this.#taken(sent);
    return true;
  }

  /**
   * Bytes from the worker (their length is the credit they used); `cut`: they end inside an event. `more`: bytes
   * that follow `chunk` (a run the worker joined): one write of them all, so they leave in one send.
   */
  push(chunk: Uint8Array, cut = false, more?: readonly Uint8Array[]): void {
    if (this.#ended) return;
    const n = dataLength(chunk, more);
    this.bytes += n;
    this.#outstanding += n;
    if (this.#blocked) {
      this.#queue.push(more === undefined ? Buffer.from(chunk) : Buffer.concat([chunk, ...more], n));
      this.#queued += n;
      this.#queueCut = cut;
      return;
    }
    this.lastWrite = this.lastActivity = performance.now();
    if (this.#write(chunk, n, cut, more)) this.#confirmLater();
  }

  /** The worker may be waiting on the latest write's credit: prove it sent at the end of this turn. */
  #confirmLater(): void {
    if (!this.#starving || this.#toConfirm) return;
    if (toConfirm.length === 0) setImmediate(confirmAll);
    this.#toConfirm = true;
    toConfirm.push(this);
  }

  /** A keep-alive comment, only when the stream is idle, between events, and not backed up (it uses no credit). */
  heartbeat(text: string): void {
    if (this.#ended || this.#blocked || this.#midEvent) return;
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
    this.#blocked = false;
    if (this.#queue.length > 0) {
      const chunk = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue);
      const n = this.#queued;
      this.#queue = [];
      this.#queued = 0;
      const ok = this.#write(chunk, n, this.#queueCut);
      if (ok) this.#confirmLater();
      return ok;
    }
    if (!this.#midEvent) return this.#write(PROBE, 0);
    // inside an event no probe may be written: let the sink drain as it can and count what it held as sent
    // (if it could not send it all, uWS calls again)
    this.sink.flush();
    const sent = this.#held + this.#unconfirmed;
    this.#held = 0;
    this.#unconfirmed = 0;
    if (sent > 0) this.#taken(sent);
    return true;
  }

  /** Ends the response after what is queued, with the terminal text ([DONE] and/or an error event). */
  end(terminal: string): void {
    if (this.#ended) return;
    this.#ended = true;
    // a stream cut here inside an event (a proxy limit while a large event went in pieces) first ends that event
    // (the worker's own endings close its JSON first: workers/json-cut.ts)
    const last = (this.#queue.length > 0 ? this.#queueCut : this.#midEvent) && terminal !== '' ? '\n\n' + terminal : terminal;
    const rest = this.#queue.length === 0 ? last : Buffer.concat([...this.#queue, Buffer.from(last)]);
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
