// The main thread's shared state, handed to the route handlers: config, log, counters, admission, pool, mirror health, hooks.
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Counters } from './counters.js';
import type { Admission } from './admission.js';
import type { StreamPool } from './pool/pool.js';
import type { MemoryMonitor } from './memory.js';
import type { IdTable, MirrorHealth } from '../workers/protocol.js';
import type { Signal } from './signal.js';

/** What the service sweep and shutdown need from a request in flight. */
export interface ActiveExchange {
  readonly id: number;
  /** Bytes of this stream held in the proxy that the client has not taken yet. */
  readonly pending: number;
  sweep(now: number): void;
  shutdown(): void;
}

export interface ServiceHooks {
  /** The last request in flight finished. */
  readonly idle: Signal;
  /** A request began to wait in the admission queue (its request id). */
  readonly queued: Signal<string>;
}

export interface ServiceState {
  readonly config: Config;
  readonly log: Logger;
  readonly counters: Counters;
  readonly admission: Admission;
  readonly pool: StreamPool;
  readonly memory: MemoryMonitor;
  /** The mirrors' circuit state, shared with every worker. */
  readonly health: MirrorHealth;
  /** The proxied requests in flight, by ActiveExchange.id (not a Set: workers/id-table.ts). */
  readonly active: IdTable<ActiveExchange>;
  readonly hooks: ServiceHooks;
  readonly startedAt: number;
  readonly version: string;
  readonly nativeUws: boolean;
}
