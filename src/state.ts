// The main thread's shared state, handed to the route handlers: config, log, counters, admission, pool.
import type { EventEmitter } from 'node:events';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Counters } from './counters.js';
import type { Admission } from './admission.js';
import type { StreamPool } from './pool/pool.js';
import type { MemoryMonitor } from './memory.js';

/** What the service sweep and shutdown need from an exchange in flight. */
export interface ActiveExchange {
  /** Bytes of this stream held in the proxy that the client has not taken yet. */
  readonly pending: number;
  sweep(now: number): void;
  shutdown(): void;
}

export interface ServiceState {
  readonly config: Config;
  readonly log: Logger;
  readonly counters: Counters;
  readonly admission: Admission;
  readonly pool: StreamPool;
  readonly memory: MemoryMonitor;
  readonly active: Set<ActiveExchange>;
  /** 'idle' when the last in-flight request finishes; 'backpressure' (reqId) when a client stops keeping up;
   *  'queued' (reqId) when a request starts waiting for a slot; 'shutdown' when draining begins. */
  readonly events: EventEmitter;
  readonly startedAt: number;
  readonly version: string;
  readonly nativeUws: boolean;
}
