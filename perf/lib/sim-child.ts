// The simulator in its own process for benchmarks: forked with IPC, answers `stats` and `reset` messages.
import { startSimulator, type SimAbortEvent } from '../../src/simulator/index.js';

export interface SimChildStats {
  requests: number;
  completed: number;
  aborts: number;
  blockedWrites: number;
  inFlight: number;
  /** Events the simulator had written into the last aborted response. */
  lastAbortEvents: number;
}

export type SimChildMessage = { type: 'ready'; baseUrl: string; port: number } | { type: 'stats'; id: number; stats: SimChildStats };

const sim = await startSimulator({ port: 0, host: '127.0.0.1' });
let lastAbortEvents = 0;
sim.on('abort', (ev: SimAbortEvent) => {
  lastAbortEvents = ev.eventsSent;
});
const send = (m: SimChildMessage): void => {
  process.send?.(m);
};

process.on('message', (raw: unknown) => {
  const m = raw as { type?: string; id?: number };
  if (m.type === 'reset') {
    sim.reset();
    lastAbortEvents = 0;
  }
  if (m.type === 'stats' || m.type === 'reset') {
    send({ type: 'stats', id: m.id ?? 0, stats: { ...sim.stats, lastAbortEvents } });
  }
});
process.on('disconnect', () => {
  void sim.close().then(() => process.exit(0));
});
// The simulator keeps request records for tests; a benchmark does not need them.
const keepRecordsSmall = setInterval(() => {
  sim.requests.length = 0;
}, 1000);
keepRecordsSmall.unref();
send({ type: 'ready', baseUrl: sim.baseUrl, port: sim.port });
