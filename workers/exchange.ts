// One proxied request on the worker side: validate, run the attempts, then relay the stream or the whole reply.
//
//   open ──▶ validate ──(400 invalid_*)──▶ fail
//     ▼
//   attempts (attempts.ts: mirrors, retries, circuit) ──▶ fail 502/504 upstream_* · relay an upstream error as is
//     ▼ 2xx
//   non-stream ──▶ collect (MAX_RESPONSE_SIZE, decoded) ──▶ reply (a Responses request: translated, replies.ts)
//   stream ──▶ head ──▶ data… within credit (none left: pause the upstream) ──▶ end (done | error code)
//   (the relay per route, relays.ts: chat's SSE as it came, the Responses events, or speech's bytes)
//   limits (the engine's sweep calls check): the first event by REQUEST_TIMEOUT, then STREAM_IDLE_TIMEOUT
//   between upstream reads (not while we pause), STREAM_TIMEOUT in all.
import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import type { OpenMsg, RouteKind, UpstreamMeta, WorkerErrorCode } from './protocol.js';
import type { Controller } from './upstream.js';
import { abortQuietly } from './upstream.js';
import { Attempts, type AttemptOwner } from './attempts.js';
import { BodyCollector } from './collector.js';
import { Outflow } from './outflow.js';
import type { Active, ExchangeContext } from './context.js';
import { errorReply, makeDecoder } from './bodies.js';
import { encodingOf, headerValue } from './headers.js';
import { loggedOf, prepare } from './prepare.js';
import { createRelay, framingOf, headOf } from './relays.js';
import type { Relay } from './relay.js';
import { answer, completeReply, unshapedErrorAnswer } from './replies.js';
import type { ResponseContext } from './responses/shape.js';

const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/** After [DONE] the upstream may finish its response (its connection is then reused), for this long. */
const LINGER_MS = 1000;

type Phase = 'attempting' | 'collecting' | 'streaming' | 'lingering' | 'over';

export class Exchange implements Active, AttemptOwner {
  readonly id: number;
  readonly started = performance.now();
  #phase: Phase = 'attempting';
  #attempts: Attempts | null = null;
  #controller: Controller | null = null;
  #model = '';
  #stream = false;
  /** Log fields the opt-ins asked for (prompt, params), and the aliased model. */
  #logged: Pick<UpstreamMeta, 'prompt' | 'params' | 'upstreamModel'> = {};
  /** A Responses request: what its answer repeats. */
  #responses: ResponseContext | undefined;
  readonly #outflow: Outflow;
  #headers: IncomingHttpHeaders = NO_HEADERS;
  #collector: BodyCollector | null = null;
  #relay: Relay | null = null;
  #decoder: Transform | null = null;
  /** The worker has no credit left for this stream (its client is slow): the upstream is paused. */
  #waitsForCredit = false;
  /** The decoder's input buffer is full: the upstream is paused until it drains. */
  #decoderFull = false;
  #headSent = false;
  /** When the upstream last sent bytes, as the sweep saw it (or when the stream began or resumed). */
  #lastByte = 0;
  /** Bytes came since the last sweep: the sweep's time becomes #lastByte (a clock read per upstream chunk cost ~2 %
   * of the CPU of an unpaced stream; the idle limit is seconds, the sweep 50 ms). */
  #bytesSinceSweep = false;
  #lingerUntil = 0;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly open: OpenMsg,
    private readonly kind: Exclude<RouteKind, 'models'>,
  ) {
    this.id = open.id;
    // a binary body has no events: every piece counts as cut (no probe or heartbeat may ever be written into it)
    this.#outflow = new Outflow(open.credit, kind === 'speech'
      ? (chunk) => ctx.send({ t: 'data', id: open.id, chunk, cut: true })
      : (chunk, cut) => ctx.send(cut ? { t: 'data', id: open.id, chunk, cut } : { t: 'data', id: open.id, chunk }));
  }

  start(): void {
    const { config } = this.ctx;
    const v = prepare(this.kind, this.open, config.modelAliases);
    if (!v.ok) return this.#fail(v.code, v.message, v.param);
    this.#model = v.model;
    this.#stream = v.stream;
    this.#responses = v.responses;
    if (config.logPrompts || config.logDetails || v.upstreamModel !== undefined) this.#logged = loggedOf(config, v);
    const firstByte = this.open.limits.firstByteMs;
    const { reqId, traceparent } = this.open;
    const req = { kind: this.kind, body: v.body ?? this.open.body, contentType: v.contentType, stream: v.stream, reqId, traceparent };
    this.#attempts = new Attempts(this.ctx.health, this.ctx.dispatch, config, req, this.started + (firstByte > 0 ? firstByte : 3_600_000), this);
    this.#attempts.start();
  }

  get meta(): UpstreamMeta {
    return { mirror: this.#attempts?.mirror ?? -1, attempts: this.#attempts?.count ?? 0, model: this.#model, stream: this.#stream, ...this.#logged };
  }

  /** Bytes relayed and waiting for credit (beyond what the main thread was sent). */
  get waiting(): number {
    return this.#outflow.pending;
  }

  /** True once the first event went to the client: no retry after that. */
  get committed(): boolean {
    return (this.#relay?.events ?? 0) > 0;
  }

  abort(): void {
    if (this.#phase === 'lingering' && this.#controller) abortQuietly(this.#controller);
    this.#over();
  }

  credit(n: number): void {
    const resume = this.#outflow.grant(n);
    if (this.#phase !== 'streaming') return;
    if (resume) {
      this.#waitsForCredit = false;
      this.#decoder?.resume();
      this.#resumeUpstream();
    }
    this.#controller?.readAgain(); // a socket its read bound stopped (workers/connector.ts) reads again if it may
  }

  /** The upstream reads again when neither our client (credit) nor the decoder (its input buffer) holds it back. */
  #resumeUpstream(): void {
    if (this.#waitsForCredit || this.#decoderFull || !this.#controller?.paused) return;
    this.#lastByte = performance.now(); // time spent paused by our client is not upstream idleness
    this.#controller.resume();
  }

  check(now: number): void {
    const { limits } = this.open;
    switch (this.#phase) {
      case 'over':
        return;
      case 'lingering':
        if (now > this.#lingerUntil) this.abort();
        return;
      case 'streaming':
        if (this.#bytesSinceSweep) {
          this.#bytesSinceSweep = false;
          this.#lastByte = now;
        }
        if (limits.totalMs > 0 && now - this.started > limits.totalMs) {
          return this.#endStream('stream_timeout', `The stream exceeded its time limit of ${limits.totalMs} ms.`);
        }
        if (!this.committed) {
          if (limits.firstByteMs > 0 && now - this.started > limits.firstByteMs) this.#endStream('upstream_timeout');
          return;
        }
        if (this.#controller?.paused !== true && limits.idleMs > 0 && now - this.#lastByte > limits.idleMs) {
          this.#endStream('upstream_idle_timeout', `The upstream sent nothing for ${limits.idleMs} ms.`);
        }
        return;
      case 'attempting':
      case 'collecting':
        if (limits.firstByteMs > 0 && now - this.started > limits.firstByteMs) {
          if (this.#phase === 'attempting') this.#attempts?.expire();
          else this.#fail('upstream_timeout', '', null);
        }
    }
  }

  // ---- the final upstream response (AttemptOwner) ---------------------------------------------------

  onResponse(_status: number, headers: IncomingHttpHeaders, controller: Controller): void {
    this.#controller = controller;
    // a stream keeps nothing of the headers (the collector needs them for its content-type and encoding)
    this.#headers = this.#stream ? NO_HEADERS : headers;
    this.#relay = null;
    this.#decoder?.destroy();
    this.#decoder = null;
    if (!this.#stream) {
      this.#phase = 'collecting';
      this.#collector = new BodyCollector(this.ctx.config.maxResponseBytes, false);
      return;
    }
    const framing = framingOf(this.kind);
    const type = headerValue(headers, 'content-type') ?? '';
    if (framing !== 'bytes' && !type.toLowerCase().includes('text/event-stream')) {
      return this.#fail('upstream_bad_response', 'The upstream answered a stream request without an event stream.', null);
    }
    const encoding = encodingOf(headers);
    if (encoding !== 'identity') {
      const d = makeDecoder(encoding);
      if (d === null) return this.#fail('upstream_bad_response', `Unsupported upstream content-encoding ${encoding}.`, null);
      this.#decoder = d;
      d.on('data', (b: Buffer) => this.#relayChunk(b));
      d.on('end', () => this.#finishStream()); // its output's end: at 'finish' decoded events may still wait for credit
      d.on('drain', () => {
        this.#decoderFull = false;
        this.#resumeUpstream();
      });
      d.on('error', () => this.#endStream('upstream_bad_response', 'The upstream stream could not be decoded.'));
    }
    // the socket reads no more than the credit leaves (plain mirrors): what the client cannot take yet stays in the
    // kernel's buffers, not here (compressed bytes are not the credit's bytes: the decoder's bound holds those)
    if (this.#decoder === null) controller.boundReads(this.#outflow);
    this.#phase = 'streaming';
    this.#lastByte = performance.now();
    this.#relay = createRelay(this.kind, this.ctx.config, this.#responses);
    if (!this.#headSent) {
      this.#headSent = true;
      this.ctx.send(headOf(this.id, this.meta, framing, type));
    }
  }

  onData(chunk: Buffer): void {
    if (this.#phase === 'streaming') {
      this.#bytesSinceSweep = true;
      // the decoder's input buffer is bounded too: compressed bytes wait in the socket, not here
      if (!this.#decoder) this.#relayChunk(chunk);
      else if (!this.#decoder.write(chunk)) {
        this.#decoderFull = true;
        this.#controller?.pause();
      }
    } else if (this.#phase === 'collecting') {
      this.#collector!.push(chunk);
      if (this.#collector!.full) this.#fail('response_too_large', '', null);
    }
  }

  onEnd(): void {
    if (this.#phase === 'lingering') return this.#over();
    if (this.#phase === 'streaming') {
      if (this.#decoder) this.#decoder.end();
      else this.#finishStream();
      return;
    }
    if (this.#phase !== 'collecting') return;
    const got = this.#collector!.finish(encodingOf(this.#headers));
    this.#collector = null;
    if (!got.ok) return this.#fail(got.code, got.code === 'upstream_bad_response' ? 'The upstream body could not be decoded.' : '', null);
    const r = completeReply(this.#headers, got.body, this.#responses, this.ctx.config.logCompletions);
    if (!r.ok) return this.#fail(r.code, r.message, null);
    this.ctx.send({ t: 'reply', id: this.id, status: 200, headers: r.headers, body: r.body, meta: this.meta, ...r.answer });
    this.#over();
  }

  onBodyError(): void {
    if (this.#phase === 'lingering') return this.#over();
    this.#endStream('upstream_reset');
  }

  onErrorResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): void {
    const r = errorReply(status, headers, body);
    this.#reply(status, r.headers, r.body, r.unshaped);
  }

  onFail(code: WorkerErrorCode): void {
    this.#fail(code, '', null);
  }

  // ---- streaming ------------------------------------------------------------------------------------

  #relayChunk(chunk: Buffer): void {
    if (this.#phase !== 'streaming') return;
    this.#send(this.#relay!.push(chunk));
  }

  #send(out: Uint8Array | null): void {
    if (out !== null && !this.#outflow.write(out, this.#relay!.midEvent)) {
      this.#waitsForCredit = true;
      if (this.#controller && !this.#controller.paused) this.#controller.pause();
      this.#decoder?.pause(); // decompressed output must stop too, not only the socket
      this.ctx.flushSoon();
    }
    const end = this.#relay!.end;
    if (end) this.#endStream(end.code, end.message);
  }

  #finishStream(): void {
    if (this.#phase !== 'streaming') return;
    const relay = this.#relay!;
    this.#send(relay.flush());
    if (!relay.end) this.#endStream(relay.cleanEndCode());
  }

  #endStream(code: WorkerErrorCode | null, message?: string): void {
    if (this.#phase !== 'streaming') return;
    const relay = this.#relay!;
    this.#outflow.drain();
    const tail = relay.finishText(code, message);
    if (tail.length > 0) this.ctx.send({ t: 'data', id: this.id, chunk: Buffer.from(tail) });
    this.ctx.send({
      t: 'end', id: this.id, done: code === null && framingOf(this.kind) === undefined, stats: relay.stats(),
      ...(code !== null ? { code, ...(message ? { message } : {}) } : {}),
    });
    if (code === null && relay.sawDone && this.#controller && !this.#controller.aborted) {
      // after [DONE] let the upstream finish its response so its connection is reused; cut it if it lingers
      this.#phase = 'lingering';
      this.#lingerUntil = performance.now() + LINGER_MS;
      this.#decoder?.destroy();
      this.#controller.boundReads(null); // the rest of the response is read whatever the credit
      if (this.#controller.paused) this.#controller.resume();
      return;
    }
    this.#over();
  }

  // ---- complete answers -----------------------------------------------------------------------------

  /** `unshaped`: the upstream error's own text, which the body sent does not carry (for the log line only). */
  #reply(status: number, headers: Record<string, string>, body: string, unshaped: string | null): void {
    if (this.#phase === 'over') return;
    const withContent = this.ctx.config.logCompletions;
    const told = unshaped !== null && withContent ? unshapedErrorAnswer(unshaped) : answer(body, withContent);
    this.ctx.send({ t: 'reply', id: this.id, status, headers, body, meta: this.meta, ...told });
    this.#over();
  }

  #fail(code: WorkerErrorCode, message: string, param: string | null): void {
    if (this.#phase === 'over') return;
    this.ctx.send({ t: 'fail', id: this.id, code, message, param, meta: this.meta });
    this.#over();
  }

  #over(): void {
    if (this.#phase === 'over') return;
    this.#phase = 'over';
    this.#attempts?.abort();
    this.#decoder?.destroy();
    this.#collector = null;
    this.ctx.finished(this.id);
  }
}
