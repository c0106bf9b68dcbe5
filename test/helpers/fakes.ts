// Fakes for unit tests of the worker side: an upstream dispatcher driven by the test, a manual clock, a mirror health, a worker config.
import type { IncomingHttpHeaders } from 'node:http';
import type { AttemptHandler, AttemptRequest, Controller, Dispatch } from '../../workers/upstream.js';
import type { Clock } from '../../workers/clock.js';
import type { ReadBound } from '../../workers/connector.js';
import { MirrorHealth, type WorkerConfig } from '../../workers/protocol.js';

export class FakeController implements Controller {
  paused = false;
  aborted = false;
  reason: Error | null = null;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  abort(reason: Error): void {
    this.aborted = true;
    this.reason = reason;
  }
  /** The latest read bound the owner set (undefined: never set). */
  bound: ReadBound | null | undefined = undefined;
  readsAgain = 0;
  boundReads(bound: ReadBound | null): void {
    this.bound = bound;
  }
  readAgain(): void {
    this.readsAgain++;
  }
}

/** One dispatched attempt: the test answers it. Events after an abort are still delivered (as undici may). */
export class FakeCall {
  readonly controller = new FakeController();
  constructor(
    readonly req: AttemptRequest,
    private readonly h: AttemptHandler,
  ) {
    h.onStart(this.controller);
  }
  respond(status: number, headers: IncomingHttpHeaders = {}, body?: string | Buffer): this {
    this.h.onHeaders(status, headers);
    if (body !== undefined) {
      this.data(body);
      this.end();
    }
    return this;
  }
  data(chunk: string | Buffer): this {
    this.h.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this;
  }
  end(): void {
    this.h.onEnd();
  }
  fail(code = 'ECONNREFUSED', message = 'connect refused'): void {
    this.h.onError(Object.assign(new Error(message), { code }));
  }
}

export class FakeUpstream {
  readonly calls: FakeCall[] = [];
  readonly dispatch: Dispatch = (req, h) => {
    this.calls.push(new FakeCall(req, h));
  };
  get last(): FakeCall {
    const c = this.calls.at(-1);
    if (!c) throw new Error('no upstream call was made');
    return c;
  }
  async close(): Promise<void> {}
}

/** A clock the test moves by hand; `after` callbacks run when their time is reached. */
export class ManualClock implements Clock {
  t = 1000;
  readonly timers: Array<{ at: number; fn: () => void; ms: number; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, ms, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  /** Waits asked for, in order (including cancelled ones). */
  get waits(): number[] {
    return this.timers.map((x) => x.ms);
  }
  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers) {
      if (timer.live && timer.at <= this.t) {
        timer.live = false;
        timer.fn();
      }
    }
  }
}

/** A fresh shared health for `n` mirrors with its own time. */
export function health(n: number, failuresToOpen = 2, resetMs = 1000, now: () => number = () => 0): MirrorHealth {
  return new MirrorHealth(MirrorHealth.allocate(n), n, failuresToOpen, resetMs, now);
}

export const openAIError = (message = 'model failed'): string => JSON.stringify({ error: { message, type: 'server_error', param: null, code: 'x' } });

/** A worker's config for unit tests: one mirror, no retries, nothing logged; `o` overrides any field. */
export const workerConfig = (o: Partial<WorkerConfig> = {}): WorkerConfig => ({
  mirrors: ['http://m.test'], health: MirrorHealth.allocate(1), upstreamApiKey: null, maxRetries: 0, retryDelayMs: 0, retryAfterCapMs: 0,
  connectTimeoutMs: 1000, circuitFailures: 5, circuitResetMs: 1000, maxUpstreamConnections: 1, reasoningFormat: 'passthrough',
  modelsCacheTtlMs: 0, maxResponseBytes: 1 << 20, maxEventBytes: 1 << 20, httpProxy: null, httpsProxy: null, noProxy: null,
  logDetails: false, logPrompts: false, logCompletions: false, modelAliases: {}, ...o,
});
