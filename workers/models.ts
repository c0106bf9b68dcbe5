// The /v1/models route: the upstream list (one run of attempts), cached for MODELS_CACHE_TTL, with a fallback (models-cache.ts), plus MODEL_ALIASES.
import type { IncomingHttpHeaders } from 'node:http';
import type { OpenMsg } from './protocol.js';
import type { Controller } from './upstream.js';
import type { Active, ExchangeContext } from './context.js';
import { Attempts, type AttemptOwner } from './attempts.js';
import { BodyCollector } from './collector.js';
import { encodingOf } from './headers.js';
import { withAliases } from './aliases.js';

/** One GET /v1/models: cached, fetched, or (on any upstream failure) the fallback; always a 200. */
export class ModelsRequest implements Active, AttemptOwner {
  readonly committed = false;
  readonly #started = performance.now();
  #attempts: Attempts | null = null;
  #collector: BodyCollector | null = null;
  #encoding = 'identity';
  #over = false;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly open: OpenMsg,
  ) {}

  start(): void {
    const cached = this.ctx.models.fresh(performance.now());
    if (cached !== null) return this.#reply(cached, 'cache');
    const limit = this.open.limits.firstByteMs;
    this.#attempts = new Attempts(
      this.ctx.health, this.ctx.dispatch, this.ctx.config,
      { kind: 'models', body: null, stream: false, reqId: this.open.reqId, traceparent: this.open.traceparent },
      this.#started + (limit > 0 ? limit : 3_600_000), this,
    );
    this.#attempts.start();
  }

  credit(): void {}

  abort(): void {
    this.#finish();
  }

  check(now: number): void {
    const limit = this.open.limits.firstByteMs;
    if (!this.#over && limit > 0 && now - this.#started > limit) this.#reply(this.ctx.models.fallback(), 'fallback');
  }

  onResponse(_status: number, headers: IncomingHttpHeaders, _c: Controller): void {
    this.#encoding = encodingOf(headers);
    this.#collector = new BodyCollector(this.ctx.config.maxResponseBytes, false);
  }

  onData(chunk: Buffer): void {
    this.#collector?.push(chunk);
  }

  onEnd(): void {
    const got = this.#collector?.finish(this.#encoding);
    if (!got?.ok) return this.#reply(this.ctx.models.fallback(), 'fallback');
    const text = got.body.toString('utf8');
    this.ctx.models.store(text, performance.now());
    this.#reply(text, 'upstream');
  }

  onBodyError(): void {
    this.#reply(this.ctx.models.fallback(), 'fallback');
  }

  onErrorResponse(): void {
    this.#reply(this.ctx.models.fallback(), 'fallback');
  }

  onFail(): void {
    this.#reply(this.ctx.models.fallback(), 'fallback');
  }

  #reply(body: string, source: 'cache' | 'upstream' | 'fallback'): void {
    if (this.#over) return;
    const meta = { mirror: this.#attempts?.mirror ?? -1, attempts: this.#attempts?.count ?? 0, model: '', stream: false };
    const headers = { 'content-type': 'application/json', 'x-models-source': source };
    this.ctx.send({ t: 'reply', id: this.open.id, status: 200, headers, body: withAliases(body, this.ctx.config.modelAliases), meta, usage: null });
    this.#finish();
  }

  #finish(): void {
    if (this.#over) return;
    this.#over = true;
    this.#attempts?.abort();
    this.ctx.finished(this.open.id);
  }
}
