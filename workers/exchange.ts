// One proxied request on the worker side: validate, attempt the upstream with retries, then relay or reply.
//
//   open ──▶ validate ──(400 invalid_*)──▶ fail
//              │
//              ▼
//   attempt k on mirror (k mod M, skipping open circuits) ──(none left: 503 upstream_circuit_open)──▶ fail
//              │  connect error / timeout / 429 / 5xx, client still here, budget left ─▶ backoff, attempt k+1
//              │  3xx ─▶ fail upstream_redirect · 401/403 ─▶ fail upstream_auth · other 4xx ─▶ reply as is
//              │  exhausted ─▶ reply upstream status+body (429/5xx) or fail (unreachable 502 / timeout 504)
//              ▼
//   200 non-stream ──▶ collect (cap, decode gzip) ──▶ reply
//   200 stream ──▶ head ──▶ data… (within credit; no credit → pause upstream) ──▶ end (done | error code)
import type { Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { FromWorker, OpenMsg, UpstreamMeta, WorkerConfig, WorkerErrorCode } from './protocol.js';
import type { Mirrors } from './mirrors.js';
import { validateBody } from './validate.js';
import { allowedResponseHeaders, dispatchAttempt, headerValue, isRetryableStatus, isTimeoutError, retryAfterMs } from './upstream.js';
import { StreamRelay } from './relay.js';
import { cachedModels, storeModels, fallbackModels } from './models.js';
import { decodeSync, isOpenAIError, makeDecoder } from './bodies.js';

export interface ExchangeContext {
  readonly config: WorkerConfig;
  readonly mirrors: Mirrors;
  readonly agent: Dispatcher;
  send(msg: FromWorker): void;
  /** Flush the outbox at the end of this callback rather than of this turn. */
  flushSoon(): void;
  finished(id: number): void;
}

type Phase = 'attempting' | 'waiting' | 'collecting' | 'streaming' | 'over';

const ERROR_BODY_CAP = 64 * 1024;

export class Exchange {
  readonly id: number;
  readonly started = performance.now();
  #phase: Phase = 'attempting';
  #attempt = 0;
  #mirror = -1;
  #controller: Dispatcher.DispatchController | null = null;
  #model = '';
  #stream = false;
  #headersMs = -1;
  #credit: number;
  #retryTimer: NodeJS.Timeout | null = null;
  #chunks: Buffer[] = [];
  #size = 0;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #relay: StreamRelay | null = null;
  #decoder: Transform | null = null;
  #lastByte = 0;
  /** The upstream response has ended (or failed): nothing left to abort. */
  #upstreamDone = false;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly open: OpenMsg,
  ) {
    this.id = open.id;
    this.#credit = open.credit;
  }

  start(): void {
    if (this.open.kind === 'models') {
      const cached = cachedModels(this.ctx.config, performance.now());
      if (cached !== null) return this.#reply(200, { 'x-models-source': 'cache' }, cached);
    } else {
      const v = validateBody(this.open.kind, this.open.body);
      if (!v.ok) return this.#fail(v.code, v.message, v.param);
      this.#model = v.model;
      this.#stream = v.stream;
    }
    this.#attemptNext();
  }

  get meta(): UpstreamMeta {
    return { mirror: this.#mirror, attempts: this.#attempt, model: this.#model, stream: this.#stream, headersMs: this.#headersMs };
  }

  /** The client went away (or the main thread gave up): stop everything, send nothing more. */
  abort(): void {
    if (this.#phase === 'over') return;
    if (this.#phase === 'attempting' && this.#mirror >= 0) this.ctx.mirrors.release(this.#mirror);
    this.#over();
  }

  credit(n: number): void {
    this.#credit += n;
    // hysteresis: resume only with half the budget back, so each pause moves many events, not one
    if (this.#credit >= this.open.credit / 2 && this.#controller?.paused && this.#phase === 'streaming') {
      this.#lastByte = performance.now(); // time spent paused by our client is not upstream idleness
      this.#controller.resume();
    }
  }

  /** Called by the engine's sweep; ends the exchange when one of its limits has passed. */
  check(now: number): void {
    const { limits } = this.open;
    if (this.#phase === 'over') return;
    if (this.#phase === 'streaming') {
      if (limits.totalMs > 0 && now - this.started > limits.totalMs) {
        return this.#endStream('stream_timeout', `The stream exceeded its time limit of ${limits.totalMs} ms.`);
      }
      const paused = this.#controller?.paused === true;
      if (!paused && limits.idleMs > 0 && now - this.#lastByte > limits.idleMs) {
        return this.#endStream('upstream_idle_timeout', `The upstream sent nothing for ${limits.idleMs} ms.`);
      }
      return;
    }
    if (limits.firstByteMs > 0 && now - this.started > limits.firstByteMs) {
      if (this.#phase === 'attempting' && this.#mirror >= 0) this.ctx.mirrors.failure(this.#mirror, now);
      if (this.#status >= 400 && this.#phase === 'waiting') return this.#replyUpstreamError();
      this.#fail('upstream_timeout', undefined, null);
    }
  }

  #remainingFirstByteMs(): number {
    const limit = this.open.limits.firstByteMs;
    return limit > 0 ? limit - (performance.now() - this.started) : 3_600_000;
  }

  #attemptNext(): void {
    const picked = this.ctx.mirrors.pick(this.#attempt, performance.now());
    if (picked === null) {
      if (this.#status >= 400) return this.#replyUpstreamError();
      return this.#fail('upstream_circuit_open', undefined, null);
    }
    this.#attempt++;
    this.#mirror = picked.index;
    this.#upstreamDone = false;
    this.#phase = 'attempting';
    this.#status = 0;
    this.#chunks = [];
    this.#size = 0;
    const attemptStart = performance.now();
    const kind = this.open.kind;
    dispatchAttempt(
      this.ctx.agent,
      this.ctx.config,
      {
        kind,
        mirror: picked,
        body: kind === 'models' ? null : this.open.body,
        stream: this.#stream,
        reqId: this.open.reqId,
        headersTimeoutMs: this.#remainingFirstByteMs(),
      },
      {
        onStart: (c) => {
          if (this.#phase === 'over') c.abort(new Error('client gone'));
          else this.#controller = c;
        },
        onHeaders: (status, headers) => {
          if (this.#phase === 'over') return;
          this.#headersMs = performance.now() - this.started;
          this.#status = status;
          this.#headers = headers;
          this.#onHeaders(status, headers, performance.now() - attemptStart);
        },
        onData: (chunk) => this.#onData(chunk),
        onEnd: () => {
          this.#upstreamDone = true;
          this.#onEnd();
        },
        onError: (err) => {
          this.#upstreamDone = true;
          this.#onError(err);
        },
      },
    );
  }

  #onHeaders(status: number, headers: IncomingHttpHeaders, latency: number): void {
    if (status >= 300 && status < 400) {
      this.ctx.mirrors.failure(this.#mirror, performance.now());
      return this.#fail('upstream_redirect', undefined, null);
    }
    if (status === 401 || status === 403) {
      this.ctx.mirrors.failure(this.#mirror, performance.now());
      return this.#fail('upstream_auth', undefined, null);
    }
    if (status >= 400) {
      if (isRetryableStatus(status)) this.ctx.mirrors.failure(this.#mirror, performance.now());
      else this.ctx.mirrors.success(this.#mirror, latency);
      this.#phase = 'collecting';
      return;
    }
    this.ctx.mirrors.success(this.#mirror, latency);
    const type = headerValue(headers, 'content-type') ?? '';
    const encoding = (headerValue(headers, 'content-encoding') ?? 'identity').toLowerCase();
    if (!this.#stream || this.open.kind === 'models') {
      this.#phase = 'collecting';
      return;
    }
    if (!type.toLowerCase().includes('text/event-stream')) {
      return this.#fail('upstream_bad_response', 'The upstream answered a stream request without an event stream.', null);
    }
    if (encoding !== 'identity') {
      const d = makeDecoder(encoding);
      if (d === null) return this.#fail('upstream_bad_response', `Unsupported upstream content-encoding ${encoding}.`, null);
      this.#decoder = d;
      d.on('data', (b: Buffer) => this.#relayChunk(b));
      d.on('error', () => this.#endStream('upstream_bad_response'));
    }
    this.#phase = 'streaming';
    this.#lastByte = performance.now();
    this.#relay = new StreamRelay(this.ctx.config, this.started);
    this.ctx.send({ t: 'head', id: this.id, meta: this.meta });
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === 'streaming') {
      this.#lastByte = performance.now();
      if (this.#decoder) this.#decoder.write(chunk);
      else this.#relayChunk(chunk);
      return;
    }
    if (this.#phase !== 'collecting') return;
    this.#size += chunk.length;
    const cap = this.#status >= 400 ? ERROR_BODY_CAP : this.ctx.config.maxResponseBytes;
    if (this.#size > cap) {
      if (this.#status >= 400) return; // keep the first 64 KiB of an error body, drop the rest
      return this.#fail('response_too_large', undefined, null);
    }
    this.#chunks.push(chunk);
  }

  #relayChunk(chunk: Buffer): void {
    const relay = this.#relay;
    if (!relay || this.#phase !== 'streaming') return;
    const out = relay.push(chunk);
    if (out.text.length > 0) {
      const n = Buffer.byteLength(out.text);
      this.#credit -= n;
      this.ctx.send({ t: 'data', id: this.id, chunk: out.text, n, events: out.events });
      if (this.#credit <= 0 && this.#controller && !this.#controller.paused) {
        this.#controller.pause();
        this.ctx.flushSoon();
      }
    }
    if (out.end) this.#endStream(out.end.code, out.end.message);
  }

  #onEnd(): void {
    if (this.#phase === 'streaming') {
      if (this.#decoder) {
        this.#decoder.end(() => this.#finishStream());
        return;
      }
      return this.#finishStream();
    }
    if (this.#phase !== 'collecting') return;
    if (this.#status >= 400) {
      if (isRetryableStatus(this.#status)) return this.#retryOrReply();
      return this.#replyUpstreamError();
    }
    const encoding = (headerValue(this.#headers, 'content-encoding') ?? 'identity').toLowerCase();
    let body: Buffer;
    try {
      body = decodeSync(encoding, Buffer.concat(this.#chunks));
    } catch {
      return this.#fail('upstream_bad_response', 'The upstream body could not be decoded.', null);
    }
    if (body.length > this.ctx.config.maxResponseBytes) return this.#fail('response_too_large', undefined, null);
    const text = body.toString('utf8');
    if (this.open.kind === 'models') storeModels(text, performance.now());
    const headers = allowedResponseHeaders(this.#headers);
    headers['content-type'] = headerValue(this.#headers, 'content-type') ?? 'application/json';
    this.#reply(200, headers, text);
  }

  #finishStream(): void {
    const relay = this.#relay;
    if (!relay || this.#phase !== 'streaming') return;
    const last = relay.flush();
    if (last.text.length > 0) {
      const n = Buffer.byteLength(last.text);
      this.ctx.send({ t: 'data', id: this.id, chunk: last.text, n, events: last.events });
    }
    if (last.end) return this.#endStream(last.end.code, last.end.message);
    this.#endStream(relay.cleanEndCode());
  }

  #onError(err: Error): void {
    if (this.#phase === 'over') return;
    if (this.#phase === 'streaming') return this.#endStream('upstream_reset');
    this.ctx.mirrors.failure(this.#mirror, performance.now());
    const code: WorkerErrorCode = isTimeoutError(err) ? 'upstream_timeout' : 'upstream_unreachable';
    this.#retryOrFail(code);
  }

  #retryOrReply(): void {
    const wait = retryAfterMs(this.#headers);
    if (!this.#scheduleRetry(wait)) this.#replyUpstreamError();
  }

  #retryOrFail(code: WorkerErrorCode): void {
    if (!this.#scheduleRetry(null)) this.#fail(code, undefined, null);
  }

  /** Schedules the next attempt if the policy allows it; false when the caller must give up now. */
  #scheduleRetry(upstreamWaitMs: number | null): boolean {
    const { maxRetries, retryDelayMs, retryAfterCapMs } = this.ctx.config;
    if (this.#attempt > maxRetries) return false;
    const backoff = retryDelayMs * 2 ** (this.#attempt - 1) * (0.75 + Math.random() * 0.5);
    const wait = Math.max(backoff, upstreamWaitMs === null ? 0 : Math.min(upstreamWaitMs, retryAfterCapMs));
    if (wait >= this.#remainingFirstByteMs()) return false;
    this.#phase = 'waiting';
    this.#controller = null;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#phase === 'waiting') this.#attemptNext();
    }, wait);
    return true;
  }

  #replyUpstreamError(): void {
    const headers = allowedResponseHeaders(this.#headers);
    let body = Buffer.concat(this.#chunks).toString('utf8');
    if (!isOpenAIError(body)) {
      body = JSON.stringify({
        error: { message: `Upstream error ${this.#status}.`, type: 'upstream_error', param: null, code: `upstream_${this.#status}` },
      });
    }
    headers['content-type'] = 'application/json';
    this.#reply(this.#status, headers, body);
  }

  #reply(status: number, headers: Record<string, string>, body: string): void {
    if (this.#phase === 'over') return;
    if (status !== 200 && this.open.kind === 'models') {
      const fallback = fallbackModels();
      this.ctx.send({ t: 'reply', id: this.id, status: 200, headers: { 'content-type': 'application/json', 'x-models-source': 'fallback' }, body: fallback, meta: this.meta });
      return this.#over();
    }
    this.ctx.send({ t: 'reply', id: this.id, status, headers, body, meta: this.meta });
    this.#over();
  }

  #fail(code: WorkerErrorCode, message: string | undefined, param: string | null): void {
    if (this.#phase === 'over') return;
    if (this.open.kind === 'models' && code !== 'invalid_request') {
      return this.#reply(502, {}, '');
    }
    const wait = this.#status >= 400 ? retryAfterMs(this.#headers) : null;
    this.ctx.send({
      t: 'fail', id: this.id, code, message: message ?? '', param, meta: this.meta,
      ...(wait !== null ? { retryAfter: Math.ceil(wait / 1000) } : {}),
    });
    this.#over();
  }

  #endStream(code: WorkerErrorCode | null, message?: string): void {
    if (this.#phase !== 'streaming' || !this.#relay) return;
    const relay = this.#relay;
    const tail = relay.finishText(code);
    if (tail.length > 0) this.ctx.send({ t: 'data', id: this.id, chunk: tail, n: Buffer.byteLength(tail), events: 1 });
    this.ctx.send({
      t: 'end', id: this.id, done: code === null, stats: relay.stats(),
      ...(code !== null ? { code, ...(message ? { message } : {}) } : {}),
    });
    this.#over();
  }

  #over(): void {
    const clean = this.#phase === 'streaming' && this.#relay?.sawDone === true;
    this.#phase = 'over';
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#decoder?.destroy();
    const c = this.#controller;
    this.#controller = null;
    if (c && !this.#upstreamDone && !c.aborted) {
      if (clean) {
        // after [DONE] let the upstream finish its response so its connection is reused; cut it if it lingers
        if (c.paused) c.resume();
        setTimeout(() => abortQuietly(c), 1000).unref();
      } else {
        abortQuietly(c);
      }
    }
    this.ctx.finished(this.id);
  }
}

function abortQuietly(c: Dispatcher.DispatchController): void {
  try {
    if (!c.aborted) c.abort(new Error('exchange over'));
  } catch {
    /* the request already finished */
  }
}
