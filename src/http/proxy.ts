// The proxied routes (/v1/*) on the main thread: one ClientExchange per request, from admission to the last byte.
//
//   route + auth ........................ 404 / 405 / 401 (server.ts, before any of this)
//   content-length over MAX_BODY_SIZE ... 413 (body never read; uploads: MAX_UPLOAD_SIZE)
//   admission ........................... 503 overloaded | memory_pressure | draining (past the shutdown grace), 429 key_limit
//     (queue: waits up to QUEUE_TIMEOUT, body read meanwhile) ... 503 queue_timeout
//   read body (cap, BODY_TIMEOUT) ....... 413 (chunked past the cap), 408 request_timeout
//   worker: validate + upstream ......... 400 invalid_*, 502/504 upstream_*, upstream 4xx/429/5xx relayed
//   non-stream reply .................... the upstream status and body
//   stream: 200 + events (credit-bounded SSE writer; speech: its bytes through the same writer, framing.ts)
//     failure after the first byte ...... one `data: {"error":…}` event, then the end (CONTRACT §4);
//                                         Responses: response.failed / an error event; bytes: the connection cut
//   client gone (onAborted), at any stage: upstream aborted, slot or queue place freed, counted as client_abort
import type { DataMsg, EndMsg, FailMsg, HeadMsg, ReplyMsg, RouteKind, StreamFraming, StreamLimits, UpstreamMeta, Usage } from '../../workers/protocol.js';
import type { Channel, StreamEvents } from '../pool/channel.js';
import type { HttpResponse } from './uws.js';
import type { Waiting, Refusal } from '../admission.js';
import { outcomeOf, type Outcome } from '../counters.js';
import type { ActiveExchange, ServiceState } from '../state.js';
import { errorEntry, errorEvent, type ErrorCode } from '../errors.js';
import { send, sendError, type ErrorOptions, type ResponseContext } from './respond.js';
import { DONE, KEEP_ALIVE, UwsSink, writeSseHead, type StreamStart } from './sse.js';
import { readBody, type BodyResult } from './body.js';
import { SseWriter, type CreditSink } from '../sse/writer.js';
import { logExtra, recordRequest } from '../outcome.js';
import { inBandError, writeBytesHead } from './framing.js';

let nextId = 1;

export interface ProxyRequest {
  readonly reqId: string;
  readonly kind: RouteKind;
  readonly route: string;
  readonly keyId: string;
  readonly contentLength: number | null;
  /** The request has a body (content-length or chunked): answering before reading it closes the connection. */
  readonly hasBody: boolean;
  readonly corsOrigin: string | null;
  /** The client's content-type, for the multipart uploads only (null for the JSON routes). */
  readonly contentType: string | null;
  readonly traceparent: string | null;
  /** With ENABLE_DETAILED_LOGGING: who asked (for the log line only). */
  readonly client: { readonly ip: string; readonly userAgent: string } | null;
}

export function handleProxy(s: ServiceState, res: HttpResponse, r: ProxyRequest): void {
  new ClientExchange(s, res, r).begin();
}

/**
 * admitting: waiting for a slot (or in the queue) and for the body, in either order
 * upstream:  the worker has the request; no byte of the response is out yet
 * streaming: the SSE writer exists (the 200 goes out with its first write)
 * over:      answered, failed or abandoned; nothing touches the response any more
 */
type Stage = 'admitting' | 'upstream' | 'streaming' | 'over';

class ClientExchange implements StreamEvents, ActiveExchange, StreamStart, CreditSink {
  readonly id = nextId++;
  readonly ctx: ResponseContext;
  readonly t0 = performance.now();
  #stage: Stage = 'admitting';
  #release: (() => void) | null = null;
  #waiting: Waiting | null = null;
  #body: Uint8Array | null = null;
  #bodyDeadline = Infinity;
  #deadline = Infinity;
  #channel: Channel | null = null;
  #writer: SseWriter | null = null;
  #ttfb: number | null = null;
  #meta: UpstreamMeta | null = null;
  /** How the stream is framed (HeadMsg); undefined for chat's SSE. */
  #framing: StreamFraming | undefined;
  #contentType = '';

  constructor(
    private readonly s: ServiceState,
    private readonly res: HttpResponse,
    private readonly r: ProxyRequest,
  ) {
    this.ctx = { reqId: r.reqId, corsOrigin: r.corsOrigin };
  }

  begin(): void {
    const { res, r, s } = this;
    const c = s.config;
    res.onAborted(() => this.#onAborted());
    s.active.set(this.id, this);
    if (c.MAX_CONNECTION_TIME > 0) this.#deadline = this.t0 + c.MAX_CONNECTION_TIME;
    const max = r.contentType !== null ? c.MAX_UPLOAD_SIZE : c.MAX_BODY_SIZE;
    if (r.contentLength !== null && r.contentLength > max) {
      return this.#error('body_too_large', { message: `Request body is ${r.contentLength} bytes; the limit is ${max}.`, closeConnection: true });
    }
    const verdict = s.admission.acquire(r.keyId);
    if ('promise' in verdict) {
      this.#waiting = verdict;
      s.hooks.queued.emit(this.ctx.reqId);
      verdict.promise.then(
        (v) => {
          this.#waiting = null;
          if (this.#stage !== 'admitting') return v.ok ? v.release() : undefined;
          if (!v.ok) return this.#refused(v.reason);
          this.#release = v.release;
          this.#dispatchWhenReady();
        },
        () => this.#error('internal_error'),
      );
    } else if (!verdict.ok) {
      return this.#refused(verdict.reason);
    } else {
      this.#release = verdict.release;
    }
    if (r.kind === 'models') {
      this.#body = new Uint8Array(0);
      return this.#dispatchWhenReady();
    }
    this.#bodyDeadline = this.t0 + c.BODY_TIMEOUT;
    readBody(res, r.contentLength, max, (b) => this.#onBody(b));
  }

  /** Shed before the body was read: the connection closes, so uWS does not read and discard the upload. */
  #refused(reason: Refusal): void {
    this.#error(reason, { retryAfter: true, closeConnection: this.r.hasBody }, 'shed');
  }

  #onBody(b: BodyResult): void {
    if (this.#stage !== 'admitting') return;
    if (!b.ok) return this.#error(b.code, { closeConnection: true });
    this.#body = b.body;
    this.#bodyDeadline = Infinity;
    this.#dispatchWhenReady();
  }

  #limits(): StreamLimits {
    const c = this.s.config;
    // the guide's degradation rule: under load, new streams get a shorter total time
    const total = this.s.admission.use > 0.8 ? Math.round(c.STREAM_TIMEOUT * 0.8) : c.STREAM_TIMEOUT;
    return { firstByteMs: c.REQUEST_TIMEOUT, idleMs: c.STREAM_IDLE_TIMEOUT, totalMs: total };
  }

  #dispatchWhenReady(): void {
    if (this.#stage !== 'admitting' || this.#release === null || this.#body === null) return;
    this.#stage = 'upstream';
    const body = this.#body;
    this.#body = null;
    const msg = {
      t: 'open', id: this.id, kind: this.r.kind, body, reqId: this.ctx.reqId, traceparent: this.r.traceparent,
      credit: this.s.config.STREAM_BUFFER_SIZE, limits: this.#limits(),
    } as const;
    const type = this.r.contentType;
    this.#channel = this.s.pool.open(type === null ? msg : { ...msg, contentType: type }, this);
    if (this.#channel === null) this.#error('worker_crashed', { retryAfter: true });
  }

  // ---- worker events -------------------------------------------------------------------------------

  onReply(m: ReplyMsg): void {
    this.#meta = m.meta;
    if (this.#stage === 'over') return;
    this.#ttfb = performance.now() - this.t0;
    send(this.res, this.ctx, m.status, m.headers['content-type'] ?? 'application/json', m.body, m.headers, this.s.admission.draining);
    this.#finish(m.status, outcomeOf(m.status, null, false), m.status < 400 ? null : `upstream_${m.status}`, 0, Buffer.byteLength(m.body), 0, m.usage, m.content);
  }

  onFail(m: FailMsg): void {
    this.#meta = m.meta;
    this.#error(m.code, { ...(m.message ? { message: m.message } : {}), param: m.param });
  }

  onHead(m: HeadMsg): void {
    this.#meta = m.meta;
    if (this.#stage !== 'upstream') return;
    this.#stage = 'streaming';
    if (m.framing !== undefined) [this.#framing, this.#contentType] = [m.framing, m.contentType ?? ''];
    this.#writer = new SseWriter(new UwsSink(this.res, this), this, this.s.config.STREAM_BUFFER_SIZE);
    this.res.onWritable(() => this.#writer?.onWritable() ?? true);
  }

  /** (UwsSink) The status and headers, right before the first byte of the stream. */
  startStream(): void {
    this.#ttfb = performance.now() - this.t0;
    if (this.#framing === 'bytes') writeBytesHead(this.res, this.ctx, this.#contentType, this.s.admission.draining);
    else writeSseHead(this.res, this.ctx, this.s.admission.draining);
  }

  /** (SseWriter) Credit for bytes the client took goes back to the worker. */
  grant(n: number): void {
    this.#channel?.credit(this.id, n);
  }

  onData(m: DataMsg): void {
    this.#writer?.push(m.chunk, m.cut === true, m.more);
  }

  /** The last bytes and the end in one cork: the head, the events and the end of a short stream go out in one send. */
  onLast(data: DataMsg, end: EndMsg): void {
    if (this.#stage !== 'streaming') {
      // (nothing to write: the response is not open for a stream; each does what it does alone)
      this.onData(data);
      return this.onEnd(end);
    }
    this.res.cork(() => {
      this.onData(data);
      this.onEnd(end);
    });
  }

  onEnd(m: EndMsg): void {
    const w = this.#writer;
    if (this.#stage !== 'streaming' || !w) return;
    if (m.code !== undefined && !w.started) {
      // nothing reached the client yet: a real status is better than a 200 with an error event
      return this.#error(m.code, m.message ? { message: m.message } : {});
    }
    const code = m.code ?? null;
    if (this.#framing === undefined) w.end((code !== null ? errorEvent(code, m.message) : '') + (m.done ? DONE : ''));
    else if (code !== null && this.#framing === 'bytes') return this.#cut(code, m.stats.events, m.stats.malformed);
    else w.end(''); // Responses: the worker wrote the last events (response.completed or response.failed)
    this.#finish(200, outcomeOf(200, code, true), code, m.stats.events, w.bytes, m.stats.malformed, m.stats.usage, m.stats.content);
  }

  onLost(): void {
    this.#endInBand('worker_crashed');
  }

  get pending(): number {
    return this.#writer?.pending ?? 0;
  }

  // ---- main-thread limits (called by the service sweep) ---------------------------------------------

  sweep(now: number): void {
    if (now > this.#deadline) return this.#endInBand('max_connection_time');
    if (now > this.#bodyDeadline) return this.#error('request_timeout', { closeConnection: true });
    const w = this.#writer;
    if (this.#stage !== 'streaming' || !w) return;
    const c = this.s.config;
    if (w.blocked) {
      if (now - w.lastActivity > c.CLIENT_STALL_TIMEOUT) this.#stalled();
      return;
    }
    // (a binary body takes no comment: its writes are all `cut`, and none is out before its first)
    if (!c.DISABLE_CONNECTION_CHECK && this.#framing !== 'bytes' && now - w.lastWrite > c.CONNECTION_CHECK_INTERVAL * 1000) w.heartbeat(KEEP_ALIVE);
  }

  /** Shutdown past its grace: streams end per CONTRACT §4. */
  shutdown(): void {
    this.#endInBand('shutdown');
  }

  /** Ends the request because of a proxy-side limit or fault: an error event if bytes are out, else a status. */
  #endInBand(code: ErrorCode): void {
    if (this.#stage === 'over') return;
    this.#channel?.abort(this.id);
    const w = this.#writer;
    if (w && w.started) {
      const text = inBandError(this.#framing, code);
      if (text === null) return this.#cut(code, 0, 0);
      w.end(text);
      return this.#finish(200, outcomeOf(200, code, true), code, 0, w.bytes, 0);
    }
    this.#error(code, code === 'worker_crashed' || code === 'shutdown' ? { retryAfter: true } : {});
  }

  /** The connection is closed mid-response (a binary body that cannot finish: the client sees it cut). */
  #cut(code: ErrorCode, events: number, malformed: number, outcome: Outcome = outcomeOf(200, code, true)): void {
    const w = this.#writer!;
    w.abandon();
    this.#finish(200, outcome, code, events, w.bytes, malformed);
    this.res.close();
  }

  #stalled(): void {
    this.#channel?.abort(this.id);
    this.#cut('client_stall', 0, 0, 'client_stall');
  }

  #onAborted(): void {
    if (this.#stage === 'over') return;
    this.#channel?.abort(this.id);
    this.#writer?.abandon();
    this.#finish(499, 'client_abort', 'client_closed', 0, this.#writer?.bytes ?? 0, 0);
  }

  #error(code: ErrorCode, o: ErrorOptions = {}, outcome?: Outcome): void {
    if (this.#stage === 'over') return;
    const { status } = errorEntry(code);
    sendError(this.res, this.ctx, code, status, this.s.admission.draining ? { ...o, closeConnection: true } : o);
    this.#channel?.abort(this.id);
    this.#finish(status, outcome ?? outcomeOf(status, code, false), code, 0, 0, 0);
  }

  #finish(
    status: number, outcome: Outcome, code: string | null, events: number, bytes: number, malformed: number,
    usage: Usage | null = null, completion?: string,
  ): void {
    if (this.#stage === 'over') return;
    this.#stage = 'over';
    this.#waiting?.cancel();
    this.#release?.();
    this.#release = null;
    const s = this.s;
    if (s.active.delete(this.id) && s.active.size === 0) s.hooks.idle.emit();
    const meta = this.#meta;
    const extra = logExtra(meta, this.r.client, completion);
    recordRequest(s.counters, s.log, {
      route: this.r.route, status, outcome, code, durationMs: performance.now() - this.t0, ttfbMs: this.#ttfb,
      stream: meta?.stream ?? false, events, bytes, malformed, mirror: meta && meta.mirror >= 0 ? meta.mirror : null,
      model: meta?.model || null, usage, reqId: this.ctx.reqId, keyId: this.r.keyId, attempts: meta?.attempts ?? 0,
      ...(extra ? { extra } : {}),
    });
  }
}
