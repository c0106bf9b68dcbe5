// The proxied routes (/v1/*) on the main thread: one ClientExchange per request, from admission to the last byte.
//
//   route + auth ........................ 404 / 405 / 401 (server.ts, before any of this)
//   content-length over MAX_BODY_SIZE ... 413 (body never read)
//   admission ........................... 503 overloaded | memory_pressure | draining (past the shutdown grace), 429 key_limit
//     (queue: waits up to QUEUE_TIMEOUT, body buffered meanwhile) ... 503 queue_timeout
//   read body (cap, BODY_TIMEOUT) ....... 413 (chunked past the cap), 408 request_timeout
//   worker: validate + upstream ......... 400 invalid_*, 502/503/504 upstream_*, upstream 4xx/429/5xx relayed
//   non-stream reply .................... the upstream status and body
//   stream: 200 + events (credit-bounded SSE writer)
//     failure after the first byte ...... one `data: {"error":…}` event, then the end (CONTRACT §4)
//     client gone (onAborted) ........... upstream aborted, slot freed, counted as client_abort
import type { DataMsg, EndMsg, FailMsg, ReplyMsg, RouteKind, StreamLimits, UpstreamMeta } from '../../workers/protocol.js';
import type { Channel, StreamEvents } from '../pool/channel.js';
import type { HttpResponse } from './uws.js';
import { errorEntry, errorEvent, logLevelOf, type ErrorCode } from '../errors.js';
import { send, sendError, statusLine, writeCommonHeaders, type ResponseContext } from './respond.js';
import { SseWriter } from '../sse/writer.js';
import type { Outcome } from '../counters.js';
import type { ServiceState } from '../state.js';
import { logRequest } from '../log.js';

const DONE = 'data: [DONE]\n\n';
let nextId = 1;

export interface ProxyRequest {
  readonly reqId: string;
  readonly kind: RouteKind;
  readonly route: string;
  readonly key: string;
  readonly keyId: string;
  readonly contentLength: number | null;
  readonly corsOrigin: string | null;
}

export function handleProxy(s: ServiceState, res: HttpResponse, r: ProxyRequest): void {
  const ex = new ClientExchange(s, res, r);
  ex.begin();
}

class ClientExchange implements StreamEvents {
  readonly id = nextId++;
  readonly ctx: ResponseContext;
  readonly t0 = performance.now();
  #aborted = false;
  #finished = false;
  #release: (() => void) | null = null;
  #channel: Channel | null = null;
  #writer: SseWriter | null = null;
  #started = false;
  #ttfb: number | null = null;
  #meta: UpstreamMeta | null = null;
  #body: Uint8Array | null = null;
  #received = 0;
  #bodyDone = false;
  #bodyTimer: NodeJS.Timeout | null = null;
  #admitted = false;
  #deadline = 0;

  constructor(
    private readonly s: ServiceState,
    private readonly res: HttpResponse,
    private readonly r: ProxyRequest,
  ) {
    this.ctx = { reqId: r.reqId, corsOrigin: r.corsOrigin };
  }

  begin(): void {
    const { res, r, s } = this;
    res.onAborted(() => this.#onAborted());
    const max = s.config.MAX_BODY_SIZE;
    if (r.contentLength !== null && r.contentLength > max) {
      return this.#error('body_too_large', { message: `Request body is ${r.contentLength} bytes; the limit is ${max}.`, closeConnection: true });
    }
    const verdict = s.admission.acquire(r.keyId);
    if (!(verdict instanceof Promise)) {
      if (!verdict.ok) return this.#refused(verdict.reason);
      this.#admit(verdict.release);
      return this.#readBody();
    }
    this.#readBody(); // waiting in the queue: read (and cap) the body meanwhile
    s.events.emit('queued', this.ctx.reqId);
    verdict.then(
      (v) => {
        if (!v.ok) return this.#aborted || this.#finished ? undefined : this.#refused(v.reason);
        if (this.#aborted || this.#finished) return v.release();
        this.#admit(v.release);
        if (this.#bodyDone) this.#dispatch();
      },
      () => this.#error('internal_error'),
    );
  }

  #admit(release: () => void): void {
    this.#admitted = true;
    this.#release = release;
    this.s.active.add(this);
    const cap = this.s.config.MAX_CONNECTION_TIME;
    this.#deadline = cap > 0 ? this.t0 + cap : Infinity;
  }

  #refused(reason: 'overloaded' | 'key_limit' | 'draining' | 'memory_pressure' | 'queue_timeout'): void {
    this.#error(reason, { retryAfter: true }, 'shed');
  }

  #readBody(): void {
    if (this.r.kind === 'models') {
      this.#bodyDone = true;
      this.#body = new Uint8Array(0);
      if (this.#admitted) this.#dispatch();
      return;
    }
    const max = this.s.config.MAX_BODY_SIZE;
    const known = this.r.contentLength;
    // grown as bytes arrive: an announced content-length alone must not reserve memory
    let buf = new Uint8Array(Math.min(known ?? 16 * 1024, 64 * 1024));
    this.#bodyTimer = setTimeout(() => this.#error('request_timeout', { closeConnection: true }), this.s.config.BODY_TIMEOUT);
    this.res.onData((chunk, isLast) => {
      if (this.#finished) return;
      const n = chunk.byteLength;
      if (this.#received + n > max) return this.#error('body_too_large', { closeConnection: true });
      if (this.#received + n > buf.length) {
        const bigger = new Uint8Array(Math.min(max, Math.max(buf.length * 2, this.#received + n)));
        bigger.set(buf.subarray(0, this.#received));
        buf = bigger;
      }
      buf.set(new Uint8Array(chunk), this.#received);
      this.#received += n;
      if (!isLast) return;
      if (this.#bodyTimer) clearTimeout(this.#bodyTimer);
      this.#bodyTimer = null;
      this.#body = buf.subarray(0, this.#received);
      this.#bodyDone = true;
      if (this.#admitted) this.#dispatch();
    });
  }

  #limits(): StreamLimits {
    const c = this.s.config;
    // the guide's degradation rule: under load, new streams get a shorter total time
    const total = this.s.admission.use > 0.8 ? Math.round(c.STREAM_TIMEOUT * 0.8) : c.STREAM_TIMEOUT;
    return { firstByteMs: c.REQUEST_TIMEOUT, idleMs: c.STREAM_IDLE_TIMEOUT, totalMs: total };
  }

  #dispatch(): void {
    if (this.#finished || this.#aborted) return;
    const ch = this.s.pool.open(
      { t: 'open', id: this.id, kind: this.r.kind, body: this.#body!, reqId: this.ctx.reqId, credit: this.s.config.STREAM_BUFFER_SIZE, limits: this.#limits() },
      this,
    );
    this.#body = null;
    if (ch === null) return this.#error('worker_crashed', { retryAfter: true });
    this.#channel = ch;
  }

  // ---- worker events -------------------------------------------------------------------------------

  onReply(m: ReplyMsg): void {
    this.#meta = m.meta;
    if (this.#aborted || this.#finished) return;
    this.#ttfb = performance.now() - this.t0;
    send(this.res, this.ctx, m.status, m.headers['content-type'] ?? 'application/json', m.body, m.headers, this.s.admission.draining);
    const outcome: Outcome = m.status < 400 ? 'ok' : m.status >= 500 ? 'upstream_error' : 'client_error';
    this.#finish(m.status, outcome, m.status < 400 ? null : `upstream_${m.status}`, 0, Buffer.byteLength(m.body));
  }

  onFail(m: FailMsg): void {
    if (m.meta) this.#meta = m.meta;
    const retry = m.retryAfter !== undefined ? Math.min(5, Math.max(1, m.retryAfter)) : m.code === 'upstream_circuit_open';
    this.#error(m.code, { ...(m.message ? { message: m.message } : {}), param: m.param, retryAfter: retry });
  }

  onHead(m: { meta: UpstreamMeta }): void {
    this.#meta = m.meta;
    if (this.#aborted || this.#finished) return;
    const ch = this.#channel!;
    this.#writer = new SseWriter(
      {
        write: (chunk) => {
          let ok = false;
          this.res.cork(() => {
            if (!this.#started) this.#startStream();
            ok = this.res.write(chunk);
          });
          if (!ok) this.s.events.emit('backpressure', this.ctx.reqId);
          return ok;
        },
        end: (chunk) => this.res.cork(() => {
          if (!this.#started) this.#startStream();
          this.res.end(chunk); // (uWS's closeConnection would write a header into the chunked body here)
        }),
        close: () => this.res.close(),
      },
      (n) => ch.credit(this.id, n),
      this.s.config.STREAM_BUFFER_SIZE,
    );
    this.res.onWritable(() => this.#writer?.onWritable() ?? true);
  }

  #startStream(): void {
    this.#started = true;
    this.#ttfb = performance.now() - this.t0;
    const res = this.res;
    res.writeStatus(statusLine(200));
    res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
    res.writeHeader('cache-control', 'no-cache');
    res.writeHeader('x-accel-buffering', 'no');
    if (this.s.admission.draining) res.writeHeader('connection', 'close'); // the client's next request goes elsewhere
    writeCommonHeaders(res, this.ctx);
  }

  onData(m: DataMsg): void {
    this.#writer?.push(m.chunk, m.n);
  }

  onEnd(m: EndMsg): void {
    const w = this.#writer;
    if (this.#aborted || this.#finished || !w) return;
    this.s.counters.malformedEvents += m.stats.malformed;
    if (m.code !== undefined && !this.#started && w.bytes === 0) {
      // nothing reached the client yet: a real status is better than a 200 with an error event
      return this.#error(m.code, m.message ? { message: m.message } : {});
    }
    w.end((m.code !== undefined ? errorEvent(m.code, m.message) : '') + (m.done ? DONE : ''));
    const outcome: Outcome = m.code === undefined ? 'ok' : 'stream_error';
    this.#finish(200, outcome, m.code ?? null, m.stats.events, w.bytes);
  }

  onLost(): void {
    this.#endInBand('worker_crashed');
  }

  get pending(): number {
    return this.#writer?.pending ?? 0;
  }

  // ---- main-thread limits (called by the service sweep) ---------------------------------------------

  sweep(now: number): void {
    if (this.#finished || this.#aborted) return;
    if (now > this.#deadline) return this.#endInBand('max_connection_time');
    const w = this.#writer;
    if (!w) return;
    const c = this.s.config;
    if (w.blocked) {
      if (now - w.lastActivity > c.CLIENT_STALL_TIMEOUT) this.#stalled();
      return;
    }
    if (!c.DISABLE_CONNECTION_CHECK && now - w.lastWrite > c.CONNECTION_CHECK_INTERVAL * 1000) {
      this.res.cork(() => {
        if (!this.#started) this.#startStream();
        w.heartbeat(': keep-alive\n\n');
      });
    }
  }

  /** Ends the request because of a proxy-side limit or fault: an error event if streaming, else a status. */
  #endInBand(code: ErrorCode): void {
    if (this.#aborted || this.#finished) return;
    if (this.#channel) this.#channel.abort(this.id);
    const w = this.#writer;
    if (w && (this.#started || w.bytes > 0)) {
      w.end(errorEvent(code));
      return this.#finish(200, 'stream_error', code, 0, w.bytes);
    }
    this.#error(code, code === 'worker_crashed' || code === 'shutdown' ? { retryAfter: true } : {});
  }

  /** Shutdown past its grace: streams end per CONTRACT §4. */
  shutdown(): void {
    this.#endInBand('shutdown');
  }

  #stalled(): void {
    this.#channel?.abort(this.id);
    const w = this.#writer!;
    w.abandon();
    this.#finish(200, 'stream_error', 'client_stall', 0, w.bytes);
    this.res.close();
  }

  #onAborted(): void {
    if (this.#finished) return;
    this.#aborted = true;
    this.#channel?.abort(this.id);
    this.#writer?.abandon();
    this.#finish(499, 'client_abort', 'client_closed', 0, this.#writer?.bytes ?? 0);
  }

  #error(code: ErrorCode, o: Parameters<typeof sendError>[4] = {}, outcome?: Outcome): void {
    if (this.#finished) return;
    const { status } = errorEntry(code);
    if (!this.#aborted) sendError(this.res, this.ctx, code, status, this.s.admission.draining ? { ...o, closeConnection: true } : o);
    this.#channel?.abort(this.id);
    this.#finish(status, outcome ?? (status >= 500 ? 'upstream_error' : 'client_error'), code, 0, 0);
  }

  #finish(status: number, outcome: Outcome, code: string | null, events: number, bytes: number): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#bodyTimer) clearTimeout(this.#bodyTimer);
    if (this.s.active.delete(this) && this.s.active.size === 0) this.s.events.emit('idle');
    this.#release?.();
    this.#release = null;
    const durationMs = performance.now() - this.t0;
    const meta = this.#meta;
    this.s.counters.record({
      route: this.r.route, status, outcome, code, durationMs, ttfbMs: this.#ttfb,
      stream: meta?.stream ?? false, events, bytes, mirror: meta && meta.mirror >= 0 ? meta.mirror : null,
    });
    const level = code === null ? 'info' : logLevelOf(code);
    logRequest(this.s.log, level, {
      req_id: this.ctx.reqId, route: this.r.route, key_id: this.r.keyId, model: meta?.model || null, stream: meta?.stream ?? false,
      status, outcome, code, duration_ms: Math.round(durationMs), ttfb_ms: this.#ttfb === null ? null : Math.round(this.#ttfb),
      bytes, events, mirror: meta && meta.mirror >= 0 ? meta.mirror : null, attempts: meta?.attempts ?? 0,
    });
  }
}
