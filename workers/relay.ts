// The per-stream SSE relay, and the `Relay` interface every stream relay implements: upstream bytes in, whole events out as the same bytes (or think-transformed), outcome tracked.
import type { StreamStats, WorkerConfig, WorkerErrorCode } from './protocol.js';
import { SseFramer, dataOf, type EventSink, type PieceSink } from './sse-framer.js';
import { inspectData } from './inspect.js';
import { Peek } from './peek.js';
import { PassedEvent } from './passed.js';
import { ThinkTransform } from './think.js';
import { Transcript, usageFrom, type Usage } from './content.js';

/** How the stream ended (its upstream side): code null means clean ([DONE] seen). */
export interface RelayEnd {
  readonly code: WorkerErrorCode | null;
  readonly message?: string;
}

/** How a stream ends when one upstream event passes MAX_EVENT_SIZE (every relay's framer reports it the same way). */
export const EVENT_TOO_LARGE: RelayEnd = { code: 'upstream_bad_response', message: 'An upstream event exceeded the size limit.' };

/**
 * An event larger than this is not held whole: it goes on in pieces as the upstream sends it (and what it says is
 * read on the way, passed.ts). Beyond its credit a stream then holds the start of an event not yet this large and
 * the rest of one read (8 KB on a plain mirror), whatever the event's size: STREAM_BUFFER_SIZE + 16 KB, issue 13's
 * bound for slow clients. (Before, a 64 KB event was held whole, and sent in pieces only from there.)
 */
export const PASS_BYTES = 8 * 1024;

/** What the exchange needs of a relay: upstream reads in, bytes for the client out, and how the stream ended. */
export interface Relay {
  /** Events (chunks, for bytes) sent toward the client so far: above 0 the request is committed (no retry). */
  readonly events: number;
  /** Set once the stream is over (read it after push or flush). */
  readonly end: RelayEnd | null;
  /** The upstream sent `[DONE]` (its response may be left to finish, for connection reuse). */
  readonly sawDone: boolean;
  push(chunk: Uint8Array): Uint8Array | null;
  flush(): Uint8Array | null;
  /** The bytes push or flush returned last end inside an event (the rest of it follows). */
  readonly midEvent: boolean;
  /** How an upstream that closed cleanly ends the stream: null (complete) or the failure code. */
  cleanEndCode(): WorkerErrorCode | null;
  /** The text owed before the end: with `code` set, what a failure ends with when the relay writes it itself. */
  finishText(code: WorkerErrorCode | null, message?: string): string;
  stats(): StreamStats;
}

const D = 0x64;
const A = 0x61;
const T = 0x74;
const COLON = 0x3a;
const SPACE = 0x20;

export class StreamRelay implements Relay {
  readonly #framer: SseFramer;
  readonly #peek = new Peek();
  readonly #think: ThinkTransform | null;
  readonly #transcript: Transcript | null;
  /** Every event is read (decoded and parsed): the opt-in transforms need each one. */
  readonly #readAll: boolean;
  #events = 0;
  #malformed = 0;
  #finishReason: string | null = null;
  #usage: Usage | null = null;
  sawDone = false;
  #end: RelayEnd | null = null;
  /** The event going on in pieces (too large to hold), or null. */
  #passed: PassedEvent | null = null;
  midEvent = false;
  // the output of the read in progress: a run of contiguous bytes of one buffer, and the runs before it
  #parts: Uint8Array[] = [];
  #runBuf: Buffer | null = null;
  #runStart = 0;
  #runEnd = 0;

  constructor(config: WorkerConfig) {
    this.#think = config.reasoningFormat === 'think' ? new ThinkTransform() : null;
    this.#transcript = config.logCompletions ? new Transcript() : null;
    this.#readAll = this.#think !== null || this.#transcript !== null;
    // (the opt-in transforms read every event whole: nothing goes on in pieces then)
    this.#framer = new SseFramer(config.maxEventBytes, this.#readAll ? 0 : PASS_BYTES);
  }

  /** Events relayed so far. */
  get events(): number {
    return this.#events;
  }

  /** Set once the stream is over (read it after push or flush). */
  get end(): RelayEnd | null {
    return this.#end;
  }

  /** Bytes of an event held here, waiting for its end (at most PASS_BYTES and one read, whatever the event's size). */
  get held(): number {
    return this.#framer.pending;
  }

  /** One upstream read in: the bytes to send (whole events, in order), or null when it finished none to send. */
  push(chunk: Uint8Array): Uint8Array | null {
    if (this.#end) return null;
    this.#framer.scan(chunk, this.#onEvent, this.#onPiece);
    if (this.#framer.overflowed && !this.#end) this.#end = EVENT_TOO_LARGE;
    return this.#out(chunk);
  }

  /** At upstream end: a last event that lacked its blank line. */
  flush(): Uint8Array | null {
    if (this.#end) return null;
    const open = this.#passed;
    // (push's #out left no output pending: anything pending now is the flushed event's)
    this.#framer.flushTo(this.#onEvent, this.#onPiece);
    // the last event lacked its blank line (many servers omit it): it ends here, before whatever the stream ends
    // with (an event going on in pieces also with what closes its JSON, if it was cut inside it)
    if (open !== null) this.#emitOwn(`${open.repair()}\n\n`);
    else if (this.#runBuf !== null || this.#parts.length > 0) this.#emitOwn('\n\n');
    this.midEvent = false;
    return this.#out(null);
  }

  readonly #onEvent: EventSink = (b, s, e, simple) => {
    if (this.sawDone || this.#end) return;
    // the common event, one `data:` line: its value is read in place
    if (simple && b[s] === D && b[s + 1] === A && b[s + 2] === T && b[s + 3] === A && b[s + 4] === COLON) {
      const v = s + (b[s + 5] === SPACE ? 6 : 5);
      const kind = this.#peek.classify(b, v, e - 2);
      if (kind === 'plain' && !this.#readAll) return this.#forward(b, s, e);
      if (kind !== 'read' && kind !== 'plain') return this.#settle(kind);
      return this.#read(b, s, e, b.toString('utf8', v, e - 2));
    }
    const data = dataOf(b.toString('utf8', s, e)); // several lines, CRs, other fields: decoded
    return this.#read(b, s, e, data);
  };

  /** A piece of an event too large to hold: it goes on now; what the event says is known at its last piece. */
  readonly #onPiece: PieceSink = (b, s, e, last) => {
    if (this.sawDone || this.#end) return;
    let passed = this.#passed;
    if (passed === null) {
      passed = this.#passed = new PassedEvent();
      this.#events++;
    }
    passed.feed(b, s, e);
    if (e > s) this.#emit(b, s, e);
    this.midEvent = !last;
    if (!last) return;
    this.#passed = null;
    const says = passed.says();
    if (!says.object) this.#malformed++; // (its bytes went out already: the price of not holding it)
    if (says.finishReason !== null) this.#finishReason = says.finishReason;
    if (says.usage !== null) this.#usage = usageFrom(says.usage);
    if (says.error !== null) this.#end = { code: 'upstream_error_event', message: errorMessage(says.error) };
  };

  #settle(kind: 'ping' | 'done' | 'malformed'): void {
    if (kind === 'malformed') this.#malformed++;
    else if (kind === 'done') {
      this.sawDone = true;
      this.#end = { code: null };
    }
  }

  /** The slow path: the event's data decoded and parsed (what it says, and the opt-in transforms). */
  #read(b: Buffer, s: number, e: number, data: string | null): void {
    const got = inspectData(data);
    switch (got.kind) {
      case 'ping':
      case 'done':
      case 'malformed':
        return this.#settle(got.kind);
      case 'chunk':
        if (got.error !== null) {
          this.#end = { code: 'upstream_error_event', message: errorMessage(got.error) };
          return;
        }
        if (got.finishReason !== null) this.#finishReason = got.finishReason;
        if (got.usage !== null) this.#usage = usageFrom(got.usage);
        this.#transcript?.add(got.value);
        if (this.#think) {
          const raw = b.toString('utf8', s, e);
          const text = this.#think.apply(got.value, raw);
          if (text !== raw) return this.#forwardOwn(Buffer.from(text));
        }
        this.#forward(b, s, e);
    }
  }

  /** Bytes b[s, e) go out as they came; adjacent events of one read stay one run (no copy). */
  #forward(b: Buffer, s: number, e: number): void {
    this.#events++;
    this.midEvent = false;
    this.#emit(b, s, e);
  }

  #emit(b: Buffer, s: number, e: number): void {
    if (this.#runBuf === b && this.#runEnd === s) {
      this.#runEnd = e;
      return;
    }
    this.#closeRun();
    this.#runBuf = b;
    this.#runStart = s;
    this.#runEnd = e;
  }

  #forwardOwn(bytes: Buffer): void {
    this.#events++;
    this.midEvent = false;
    this.#emitOwn(bytes);
  }

  /** Bytes of the relay's own (a transformed event, a blank line owed) after the run. */
  #emitOwn(bytes: Buffer | string): void {
    this.#closeRun();
    this.#parts.push(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  }

  #closeRun(): void {
    if (this.#runBuf !== null) this.#parts.push(this.#runBuf.subarray(this.#runStart, this.#runEnd));
    this.#runBuf = null;
  }

  #out(read: Uint8Array | null): Uint8Array | null {
    this.#peek.forget(); // the read is done: nothing of it stays referenced here
    const run = this.#runBuf;
    // the common case, a read of whole events all forwarded: the read itself goes on (no view made)
    if (this.#parts.length === 0 && run !== null && run === read && this.#runStart === 0 && this.#runEnd === read.length) {
      this.#runBuf = null;
      return read;
    }
    this.#closeRun();
    const parts = this.#parts;
    if (parts.length === 0) return null;
    this.#parts = [];
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** How an upstream that closed cleanly without [DONE] ends: fine after a finish_reason, else truncated. */
  cleanEndCode(): WorkerErrorCode | null {
    if (this.sawDone || this.#finishReason !== null) return null;
    return 'upstream_truncated';
  }

  /**
   * Text owed before the terminal event: an open <think> block closed; or, for a stream cut inside an event that
   * was going on in pieces, what makes that event valid JSON and ends it (so the client's SDK reads a cut chunk,
   * then the error event, not a fragment it cannot parse).
   */
  finishText(): string {
    const open = this.#passed;
    if (open !== null) {
      this.#passed = null;
      return `${open.repair()}\n\n`;
    }
    return this.#think ? this.#think.finish() : '';
  }

  stats(): StreamStats {
    return {
      events: this.#events,
      malformed: this.#malformed,
      usage: this.#usage,
      ...(this.#transcript ? { content: this.#transcript.text } : {}),
    };
  }
}

export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const m = (error as { message?: unknown }).message;
    if (typeof m === 'string') return `Upstream error: ${m.slice(0, 500)}`;
  }
  if (typeof error === 'string') return `Upstream error: ${error.slice(0, 500)}`;
  return 'The upstream reported an error mid-stream.';
}
