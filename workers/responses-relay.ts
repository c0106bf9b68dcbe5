// The Responses stream transform: the upstream's chat-completion SSE in (framed and parsed, every event), the
// Responses API's event sequence out (responses/stream.ts), ending with response.completed or response.failed.
import type { StreamStats, WorkerConfig, WorkerErrorCode } from './protocol.js';
import { SseFramer, dataOf, type EventSink } from './sse-framer.js';
import { inspectData } from './inspect.js';
import { EVENT_TOO_LARGE, errorMessage, type Relay, type RelayEnd } from './relay.js';
import { Transcript, usageFrom, type Usage } from './content.js';
import { ResponsesStream } from './responses/stream.js';
import type { ResponseContext } from './responses/shape.js';

/** The text of a failure that ends a started stream (src/errors.ts's messages; test/routes-responses pins them). */
export const FAILURE_TEXT: Readonly<Partial<Record<WorkerErrorCode, string>>> = {
  upstream_reset: 'The upstream connection failed mid-stream.',
  upstream_truncated: 'The upstream closed the stream before it finished.',
  upstream_idle_timeout: 'The upstream sent nothing for too long.',
  upstream_error_event: 'The upstream reported an error mid-stream.',
  upstream_bad_response: 'The upstream sent an invalid response.',
  upstream_timeout: 'The upstream did not answer in time.',
  stream_timeout: 'The stream exceeded its time limit.',
};

export class ResponsesRelay implements Relay {
  readonly #framer: SseFramer;
  readonly #stream: ResponsesStream;
  readonly #transcript: Transcript | null;
  #out = '';
  #malformed = 0;
  #usage: Usage | null = null;
  #end: RelayEnd | null = null;
  /** Its events are written whole, by itself. */
  readonly midEvent = false;
  sawDone = false;

  constructor(config: WorkerConfig, ctx: ResponseContext) {
    this.#framer = new SseFramer(config.maxEventBytes);
    this.#stream = new ResponsesStream(ctx);
    this.#transcript = config.logCompletions ? new Transcript() : null;
  }

  /** Responses events written so far (response.created is the first). */
  get events(): number {
    return this.#stream.events;
  }

  get end(): RelayEnd | null {
    return this.#end;
  }

  push(chunk: Uint8Array): Uint8Array | null {
    if (this.#end) return null;
    this.#framer.scan(chunk, this.#onEvent);
    if (this.#framer.overflowed && !this.#end) this.#end = EVENT_TOO_LARGE;
    return this.#take();
  }

  flush(): Uint8Array | null {
    if (this.#end) return null;
    this.#framer.flushTo(this.#onEvent);
    return this.#take();
  }

  readonly #onEvent: EventSink = (b, s, e) => {
    if (this.#end) return;
    const got = inspectData(dataOf(b.toString('utf8', s, e)));
    switch (got.kind) {
      case 'ping':
        return;
      case 'malformed':
        this.#malformed++;
        return;
      case 'done':
        // the terminal event goes out with the reads, within the stream's credit
        this.sawDone = true;
        this.#out += this.#stream.finish();
        this.#end = { code: null };
        return;
      case 'chunk':
        if (got.error !== null) {
          this.#end = { code: 'upstream_error_event', message: errorMessage(got.error) };
          return;
        }
        if (got.usage !== null) this.#usage = usageFrom(got.usage);
        this.#transcript?.add(got.value);
        this.#out += this.#stream.onChunk(got.value);
    }
  };

  #take(): Uint8Array | null {
    if (this.#out === '') return null;
    const out = Buffer.from(this.#out);
    this.#out = '';
    return out;
  }

  cleanEndCode(): WorkerErrorCode | null {
    return this.sawDone || this.#stream.finishReason !== null ? null : 'upstream_truncated';
  }

  /**
   * A clean end: the events still owed and response.completed (or incomplete). A failure once events are out:
   * response.failed with the output so far. Before any event: nothing (the client gets a real status instead).
   */
  finishText(code: WorkerErrorCode | null, message?: string): string {
    if (code === null) return this.#stream.finish();
    if (this.#stream.events === 0) return '';
    return this.#stream.fail(code, message ?? FAILURE_TEXT[code] ?? 'The stream failed.');
  }

  stats(): StreamStats {
    return {
      events: this.#stream.events,
      malformed: this.#malformed,
      usage: this.#usage,
      ...(this.#transcript ? { content: this.#transcript.text } : {}),
    };
  }
}
