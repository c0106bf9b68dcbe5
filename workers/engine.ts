// A worker's side of its channel: owns the exchanges of every stream multiplexed on it, batching replies per turn.
import { threadId } from 'node:worker_threads';
import { Outbox, type FromWorker, type Port, type ToWorker, type WorkerConfig } from './protocol.js';
import { Mirrors } from './mirrors.js';
import { createAgent } from './upstream.js';
import { Exchange, type ExchangeContext } from './exchange.js';

const SWEEP_MS = 50;
const STATS_MS = 1000;

/** Serves one channel until the port closes. The same code runs in a piscina worker and inline. */
export function serveChannel(port: Port<ToWorker, FromWorker>, config: WorkerConfig): { close(): Promise<void> } {
  const exchanges = new Map<number, Exchange>();
  const mirrors = new Mirrors(config.mirrors, config.circuitFailures, config.circuitResetMs);
  const agent = createAgent(config);
  // batched per turn; a stream that ran out of credit asks for soon(): its pause lasts until the main thread
  // has seen this batch
  const outbox = new Outbox<FromWorker>((batch) => port.postMessage(batch));
  const ctx: ExchangeContext = {
    config,
    mirrors,
    agent,
    send(msg) {
      outbox.push(msg);
    },
    flushSoon() {
      outbox.soon();
    },
    finished(id) {
      exchanges.delete(id);
    },
  };

  port.onBatch((batch) => {
    for (const msg of batch) {
      if (msg.t === 'open') {
        const ex = new Exchange(ctx, msg);
        exchanges.set(msg.id, ex);
        ex.start();
      } else if (msg.t === 'credit') {
        exchanges.get(msg.id)?.credit(msg.n);
      } else {
        exchanges.get(msg.id)?.abort();
      }
    }
  });

  const sendStats = (now: number): void =>
    ctx.send({ t: 'stats', threadId, mirrors: mirrors.states(now), heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576) });
  let lastStats = performance.now();
  sendStats(lastStats); // at once: the main thread learns which thread serves this channel before any stream
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const ex of exchanges.values()) ex.check(now);
    if (now - lastStats >= STATS_MS) {
      lastStats = now;
      sendStats(now);
    }
  }, SWEEP_MS);

  return {
    async close() {
      clearInterval(sweep);
      for (const ex of exchanges.values()) ex.abort();
      port.close();
      await agent.close();
    },
  };
}
