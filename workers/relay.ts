// The per-stream SSE relay: upstream bytes in, whole events out unchanged (or think-transformed), outcome tracked.
import type { StreamStats, WorkerConfig, WorkerErrorCode } from './protocol.js';
import { SseFramer } from './sse-framer.js';
import { inspectEvent } from './inspect.js';
import { ThinkTransform } from './think.js';
import { Transcript, usageFrom, type Usage } from './content.js';

export interface RelayOut {
  /** Events to send, concatenated; '' when the read finished none. */
  readonly text: string;
  readonly events: number;
  /** Set when the stream is over: code null means a clean end ([DONE] seen). */
  readonly end?: { readonly code: WorkerErrorCode | null; readonly message?: string };
}

const NOTHING: RelayOut = { text: '', events: 0 };

export class StreamRelay {
  readonly #framer: SseFramer;
  readonly #think: ThinkTransform | null;
  #events = 0;
  #malformed = 0;
  #finishReason: string | null = null;
  #usage: Usage | null = null;
  readonly #transcript: Transcript | null;
  sawDone = false;

  constructor(config: WorkerConfig) {
    this.#framer = new SseFramer(config.maxEventBytes);
    this.#think = config.reasoningFormat === 'think' ? new ThinkTransform() : null;
    this.#transcript = config.logCompletions ? new Transcript() : null;
  }

  push(chunk: Uint8Array): RelayOut {
    if (this.sawDone) return NOTHING;
    const events = this.#framer.push(chunk);
    if (this.#framer.overflowed) return { ...this.#emit(events), end: { code: 'upstream_bad_response', message: 'An upstream event exceeded the size limit.' } };
    return this.#emit(events);
  }

  /** At upstream end: a last event that lacked its blank line. */
  flush(): RelayOut {
    if (this.sawDone) return NOTHING;
    const last = this.#framer.flush();
    return last ? this.#emit([last]) : NOTHING;
  }

  #emit(events: ReturnType<SseFramer['push']>): RelayOut {
    let text = '';
    let count = 0;
    for (const ev of events) {
      const got = inspectEvent(ev);
      switch (got.kind) {
        case 'ping':
          continue;
        case 'malformed':
          this.#malformed++;
          continue;
        case 'done':
          this.sawDone = true;
          return this.#out(text, count, { code: null });
        case 'chunk': {
          if (got.error !== null) {
            return this.#out(text, count, { code: 'upstream_error_event', message: errorMessage(got.error) });
          }
          if (got.finishReason !== null) this.#finishReason = got.finishReason;
          if (got.usage !== null) this.#usage = usageFrom(got.usage);
          this.#transcript?.add(got.value);
          text += this.#think ? this.#think.apply(got.value, ev.raw) : ev.raw;
          count++;
        }
      }
    }
    return this.#out(text, count, undefined);
  }

  #out(text: string, count: number, end: RelayOut['end']): RelayOut {
    this.#events += count;
    return end ? { text, events: count, end } : { text, events: count };
  }

  /** How an upstream that closed cleanly without [DONE] ends: fine after a finish_reason, else truncated. */
  cleanEndCode(): WorkerErrorCode | null {
    if (this.sawDone || this.#finishReason !== null) return null;
    return 'upstream_truncated';
  }

  /** Events relayed so far. */
  get events(): number {
    return this.#events;
  }

  /** Text owed before the terminal event (an open <think> block is closed). */
  finishText(): string {
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

function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const m = (error as { message?: unknown }).message;
    if (typeof m === 'string') return `Upstream error: ${m.slice(0, 500)}`;
  }
  if (typeof error === 'string') return `Upstream error: ${error.slice(0, 500)}`;
  return 'The upstream reported an error mid-stream.';
}
