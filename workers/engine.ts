// A worker's side of its channel: owns the requests of every stream multiplexed on it, batching replies per turn.
import { threadId } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BATCH_LIMIT, DATA_RUNS, IdTable, MirrorHealth, Outbox, unreachable, type CollectedMsg, type FromWorker, type Port, type ToWorker, type WorkerConfig } from './protocol.js';
import { createUpstream, type Upstream } from './upstream.js';
import { Exchange } from './exchange.js';
import type { Active, ExchangeContext } from './context.js';
import { ModelsRequest } from './models.js';
import { ModelsCache } from './models-cache.js';

const MB = 1048576;

let gcFunction: (() => void) | null | undefined;

/** V8's gc(): global when the process runs with --expose-gc (`npm start` does); else the flag is set now. */
function exposedGc(): (() => void) | null {
  if (gcFunction !== undefined) return gcFunction;
  const global = (globalThis as { gc?: () => void }).gc;
  if (global) return (gcFunction = global);
  try {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  } catch {
    gcFunction = null;
  }
  return gcFunction;
}

/** A full collection of this thread's heap (memory pressure on the main thread asks every worker for one). */
function collectGarbage(): CollectedMsg {
  const gc = exposedGc();
  const before = process.memoryUsage().heapUsed;
  if (gc) gc();
  return { t: 'collected', collected: gc !== null, heapBeforeMb: Math.round(before / MB), heapAfterMb: Math.round(process.memoryUsage().heapUsed / MB) };
}

/** How often the limits of every request are checked (one sweep serves all: no timer per stream). */
const SWEEP_MS = 50;

/**
 * Serves one channel until the port closes. The same code runs in a piscina worker and inline.
 * `upstream` is the undici client by default; tests pass a fake.
 */
export function serveChannel(port: Port<ToWorker, FromWorker>, config: WorkerConfig, upstream: Upstream = createUpstream(config)): { close(): Promise<void> } {
  const active = new IdTable<Active>(); // (not a Map: workers/id-table.ts)
  // batched per turn, and sent early once a batch is BATCH_LIMIT long; a stream that ran out of credit asks for
  // soon(): its pause lasts until the main thread has seen this batch. A stream's consecutive bytes go as one
  // message (DATA_RUNS): one write to its client per upstream read, not one per chunk of the read.
  const outbox = new Outbox<FromWorker>((batch) => port.postMessage(batch), BATCH_LIMIT, DATA_RUNS);
  const ctx: ExchangeContext = {
    config,
    health: new MirrorHealth(config.health, config.mirrors.length, config.circuitFailures, config.circuitResetMs),
    dispatch: upstream.dispatch,
    models: new ModelsCache(config.modelsCacheTtlMs),
    send: (msg) => outbox.push(msg),
    flushSoon: () => outbox.soon(),
    finished: (id) => active.delete(id),
  };

  port.onBatch((batch) => {
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      switch (msg.t) {
        case 'open': {
          const req = msg.kind === 'models' ? new ModelsRequest(ctx, msg) : new Exchange(ctx, msg, msg.kind);
          active.set(msg.id, req);
          req.start();
          break;
        }
        case 'credit':
          active.get(msg.id)?.credit(msg.n);
          break;
        case 'abort':
          active.get(msg.id)?.abort();
          break;
        case 'gc':
          ctx.send(collectGarbage());
          break;
        default:
          unreachable(msg);
      }
    }
  });

  ctx.send({ t: 'ready', threadId }); // the main thread learns which thread serves this channel before any stream
  const sweep = setInterval(() => {
    const now = performance.now();
    active.forEach((req) => req.check(now)); // 20 times a second
  }, SWEEP_MS);

  return {
    async close() {
      clearInterval(sweep);
      for (const req of active.values()) req.abort();
      port.close();
      await upstream.close();
    },
  };
}
