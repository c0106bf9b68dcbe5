// What every request of one engine shares (config, mirror health, the upstream, the outbox) and what the engine holds of each.
import type { FromWorker, MirrorHealth, WorkerConfig } from './protocol.js';
import type { Dispatch } from './upstream.js';
import type { ModelsCache } from './models-cache.js';

export interface ExchangeContext {
  readonly config: WorkerConfig;
  readonly health: MirrorHealth;
  readonly dispatch: Dispatch;
  readonly models: ModelsCache;
  send(msg: FromWorker): void;
  /** Flush the outbox at the end of this callback rather than of this turn. */
  flushSoon(): void;
  /** The exchange is over: the engine forgets it. */
  finished(id: number): void;
}

/** What the engine holds of a request in flight (an exchange, or the models route). */
export interface Active {
  credit(n: number): void;
  abort(): void;
  /** Called by the engine's sweep: ends the request when one of its limits has passed. */
  check(now: number): void;
}
