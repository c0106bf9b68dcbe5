// Upstream attempts of one request: mirror choice, backoff with jitter, Retry-After and circuit verdicts (in the style of undici's RetryHandler).
//
//   pick a mirror (closed circuits in order, one half-open probe, else panic routing) ──▶ dispatch
//     connect error / timeout / reset before headers ─▶ mirror failure; retry
//     502 503 504 ─▶ mirror failure; its body kept (64 KiB); retry, or relay the last one
//     500 ─▶ a mirror failure only without an OpenAI error body (one model failing is not the mirror); retried
//            only on another mirror
//     408 429 529 ─▶ retry after max(backoff, Retry-After up to RETRY_AFTER_CAP), or relay the last one
//     3xx ─▶ fail upstream_redirect · 401/403 ─▶ fail upstream_auth · other 4xx ─▶ relayed at once
//     2xx ─▶ the owner's response; until the owner commits (sends a byte), a failed body is retried too
//   a retry happens only while the client is here, within MAX_RETRIES and before the first-byte deadline.
import type { IncomingHttpHeaders } from 'node:http';
import type { MirrorHealth, RouteKind, WorkerErrorCode } from './protocol.js';
import type { Picked } from './health.js';
import type { AttemptHandler, Controller, Dispatch } from './upstream.js';
import { abortQuietly, isTimeoutError } from './upstream.js';
import { BodyCollector } from './collector.js';
import { isOpenAIError } from './bodies.js';
import { encodingOf, retryAfterMs } from './headers.js';
import { realClock, type Clock } from './clock.js';

export interface RetryPolicy {
  readonly mirrors: readonly string[];
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly retryAfterCapMs: number;
}

export interface AttemptRequest {
  readonly kind: RouteKind;
  readonly body: Uint8Array | null;
  /** A body that is not JSON: its content-type (multipart uploads). */
  readonly contentType?: string;
  readonly stream: boolean;
  readonly reqId: string;
  readonly traceparent: string | null;
}

/** Who gets the outcome. Only the final response reaches the owner; failed attempts stay in here. */
export interface AttemptOwner {
  /** True once bytes of the response reached the client: from then on a failure is the owner's, never a retry. */
  readonly committed: boolean;
  /** A 2xx response; its body follows on onData and onEnd, or onBodyError once committed. */
  onResponse(status: number, headers: IncomingHttpHeaders, controller: Controller): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onBodyError(err: Error): void;
  /** The final upstream error response, to relay with its status. */
  onErrorResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): void;
  onFail(code: WorkerErrorCode): void;
}

const ERROR_BODY_CAP = 64 * 1024;
const RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504, 529]);
const MIRROR_FAILURE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

type Phase = 'idle' | 'sent' | 'error_body' | 'waiting' | 'responded' | 'over';

interface LastError {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export class Attempts {
  #phase: Phase = 'idle';
  #count = 0;
  #picked: Picked | null = null;
  #controller: Controller | null = null;
  #cancelTimer: (() => void) | null = null;
  #sentAt = 0;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #errorBody: BodyCollector | null = null;
  #last: LastError | null = null;
  /** The mirror already chosen for the attempt that waits for its timer (a 500 retried elsewhere). */
  #next: Picked | null = null;
  /** Mirrors that answered this request with a 500: it is never sent to them again. */
  #failed500: number[] = [];

  constructor(
    private readonly health: MirrorHealth,
    private readonly dispatch: Dispatch,
    private readonly policy: RetryPolicy,
    private readonly req: AttemptRequest,
    /** performance.now() by which the first byte must have come. */
    private readonly deadline: number,
    private readonly owner: AttemptOwner,
    private readonly random: () => number = Math.random,
    private readonly clock: Clock = realClock,
  ) {}

  /** Attempts sent so far. */
  get count(): number {
    return this.#count;
  }
  /** Index of the mirror of the latest attempt (-1: none yet). */
  get mirror(): number {
    return this.#picked?.index ?? -1;
  }

  start(): void {
    this.#send(this.health.pick(0));
  }

  /** The client left or the exchange is over: nothing more reaches the owner; the upstream is cut. */
  abort(): void {
    if (this.#phase === 'over') return;
    const verdictPending = this.#phase !== 'responded' && this.#phase !== 'waiting';
    this.#phase = 'over';
    this.#cancelTimer?.();
    if (this.#picked && verdictPending) this.health.release(this.#picked);
    if (this.#next) this.health.release(this.#next);
    this.#next = null;
    if (this.#controller) abortQuietly(this.#controller);
  }

  /** The first-byte deadline passed before the owner committed: relay the last upstream error, or fail. */
  expire(): void {
    if (this.#phase === 'over') return;
    if (this.#phase === 'sent' && this.#picked) this.health.failure(this.#picked); // no headers in time
    const last = this.#phase === 'error_body' ? this.#takeErrorBody() : this.#last;
    this.abort();
    if (last) this.owner.onErrorResponse(last.status, last.headers, last.body);
    else this.owner.onFail('upstream_timeout');
  }

  #send(picked: Picked | null): void {
    if (picked === null) return this.#giveUp('upstream_unreachable');
    const remaining = this.deadline - this.clock.now();
    if (remaining <= 0) return this.#giveUp('upstream_timeout');
    this.#count++;
    this.#picked = picked;
    this.#phase = 'sent';
    this.#controller = null;
    this.#errorBody = null;
    this.#sentAt = this.clock.now();
    this.dispatch(
      { kind: this.req.kind, body: this.req.body, contentType: this.req.contentType, stream: this.req.stream, reqId: this.req.reqId, traceparent: this.req.traceparent, mirror: this.policy.mirrors[picked.index]!, headersTimeoutMs: remaining },
      new AttemptEvents(this, this.#count),
    );
  }

  /** Events of an attempt that was given up (retried, expired, aborted) are dropped. */
  live(attempt: number): boolean {
    return attempt === this.#count && (this.#phase === 'sent' || this.#phase === 'error_body' || this.#phase === 'responded');
  }

  /** (AttemptEvents) The attempt's controller: kept to pause, resume and abort it. */
  started(c: Controller): void {
    this.#controller = c;
  }

  /** (AttemptEvents) */
  headers(status: number, headers: IncomingHttpHeaders): void {
    this.#onHeaders(status, headers);
  }

  /** (AttemptEvents) */
  data(chunk: Buffer): void {
    if (this.#phase === 'responded') this.owner.onData(chunk);
    else this.#errorBody?.push(chunk);
  }

  /** (AttemptEvents) */
  ended(): void {
    this.#controller = null; // complete: nothing left to abort
    if (this.#phase === 'responded') this.owner.onEnd();
    else if (this.#phase === 'error_body') this.#onErrorBodyEnd();
  }

  /** (AttemptEvents) */
  failed(err: Error): void {
    this.#controller = null;
    this.#onError(err);
  }

  #onHeaders(status: number, headers: IncomingHttpHeaders): void {
    const picked = this.#picked!;
    const latency = this.clock.now() - this.#sentAt;
    this.#status = status;
    if (status < 300) {
      this.health.success(picked, latency);
      this.#phase = 'responded';
      return this.owner.onResponse(status, headers, this.#controller!); // the headers are the owner's now
    }
    this.#headers = headers;
    if (MIRROR_FAILURE_STATUSES.has(status)) this.health.failure(picked);
    else if (status !== 500) this.health.success(picked, latency); // the 500's verdict waits for its body
    if (status < 400) return this.#stop('upstream_redirect');
    if (status === 401 || status === 403) return this.#stop('upstream_auth');
    this.#phase = 'error_body';
    this.#errorBody = new BodyCollector(ERROR_BODY_CAP, true);
  }

  #onErrorBodyEnd(): void {
    const last = this.#takeErrorBody();
    this.#last = last;
    const picked = this.#picked!;
    if (last.status === 500) {
      if (isOpenAIError(last.body.toString('utf8'))) this.health.success(picked, this.clock.now() - this.#sentAt);
      else this.health.failure(picked);
    }
    if (last.status === 500) this.#failed500.push(picked.index);
    if (!RETRY_STATUSES.has(last.status) || !this.#retry(retryAfterMs(last.headers), last.status === 500)) {
      this.#phase = 'over';
      this.owner.onErrorResponse(last.status, last.headers, last.body);
    }
  }

  /** The error body, decoded as a 2xx body is (an upstream that compresses in spite of `accept-encoding: identity`); empty when it cannot be. */
  #takeErrorBody(): LastError {
    const got = this.#errorBody?.finish(encodingOf(this.#headers));
    this.#errorBody = null;
    return { status: this.#status, headers: this.#headers, body: got?.ok ? got.body : Buffer.alloc(0) };
  }

  #onError(err: Error): void {
    const picked = this.#picked!;
    if (this.#phase === 'responded') {
      if (this.owner.committed) {
        this.#phase = 'over';
        return this.owner.onBodyError(err);
      }
      this.health.failure(picked); // the mirror dropped a response nobody has seen yet: try again
    } else if (this.#phase === 'error_body') {
      // an error body cut short: the status already had its verdict
    } else {
      this.health.failure(picked);
    }
    const code: WorkerErrorCode = isTimeoutError(err) ? 'upstream_timeout' : 'upstream_unreachable';
    if (!this.#retry(null, false)) this.#giveUp(code);
  }

  /** Schedules the next attempt if the policy allows; false when the caller must give up now. */
  #retry(upstreamWaitMs: number | null, otherMirror: boolean): boolean {
    const { maxRetries, retryDelayMs, retryAfterCapMs } = this.policy;
    if (this.#count > maxRetries) return false;
    // 500: only a mirror that has not answered 500 might answer differently; pick it now, so a request whose
    // mirrors all said 500 gives up at once
    const next = otherMirror ? this.health.pick(this.#count, this.#failed500) : null;
    if (otherMirror && next === null) return false;
    const backoff = retryDelayMs * 2 ** (this.#count - 1) * (0.75 + this.random() * 0.5);
    const wait = Math.max(backoff, upstreamWaitMs === null ? 0 : Math.min(upstreamWaitMs, retryAfterCapMs));
    if (this.clock.now() + wait >= this.deadline) {
      if (next) this.health.release(next);
      return false;
    }
    this.#phase = 'waiting';
    if (this.#controller) abortQuietly(this.#controller);
    this.#controller = null;
    this.#next = next;
    this.#cancelTimer = this.clock.after(wait, () => {
      this.#cancelTimer = null;
      const chosen = this.#next ?? this.health.pick(this.#count);
      this.#next = null;
      this.#send(chosen);
    });
    return true;
  }

  #stop(code: WorkerErrorCode): void {
    this.#phase = 'over';
    if (this.#controller) abortQuietly(this.#controller);
    this.owner.onFail(code);
  }

  #giveUp(code: WorkerErrorCode): void {
    this.#phase = 'over';
    if (this.#last) return this.owner.onErrorResponse(this.#last.status, this.#last.headers, this.#last.body);
    this.owner.onFail(code);
  }
}

/** The handler of one dispatched attempt: one object (no closures), forwarding only while its attempt is the live one. */
class AttemptEvents implements AttemptHandler {
  constructor(
    private readonly a: Attempts,
    private readonly attempt: number,
  ) {}

  onStart(c: Controller): void {
    if (this.a.live(this.attempt)) this.a.started(c);
    else abortQuietly(c);
  }
  onHeaders(status: number, headers: IncomingHttpHeaders): void {
    if (this.a.live(this.attempt)) this.a.headers(status, headers);
  }
  onData(chunk: Buffer): void {
    if (this.a.live(this.attempt)) this.a.data(chunk);
  }
  onEnd(): void {
    if (this.a.live(this.attempt)) this.a.ended();
  }
  onError(err: Error): void {
    if (this.a.live(this.attempt)) this.a.failed(err);
  }
}
