// The simulator in its own process for benchmarks: forked with IPC, answers `stats`, `reset` and `aborts` (per-request abort times) messages.
import { startSimulator, type SimAbortEvent } from '../../src/simulator/index.js';
import { monoNow } from './clock.js';

export interface SimChildStats {
  requests: number;
  completed: number;
  aborts: number;
  blockedWrites: number;
  /** Responses waiting for 'drain' right now (backpressure reached this upstream). */
  waitingDrain: number;
  inFlight: number;
  /** Events the simulator had written into the last aborted response. */
  lastAbortEvents: number;
}

/** One request the upstream saw cancelled: its model name and when (ms on the system's monotonic clock, perf/lib/clock.ts: comparable across processes). */
export interface AbortRecord {
  model: string;
  at: number;
  eventsSent: number;
}

export type UpstreamRequest = { type: 'stats' | 'reset' | 'aborts'; id: number };
export type SimChildMessage =
  | { type: 'ready'; baseUrl: string; port: number }
  | { type: 'stats'; id: number; stats: SimChildStats }
  | { type: 'aborts'; id: number; aborts: AbortRecord[] };

/** The most abort records kept between two `aborts` requests. */
export const MAX_ABORT_RECORDS = 100_000;

const sim = await startSimulator({ port: 0, host: '127.0.0.1' });
let lastAbortEvents = 0;
let aborts: AbortRecord[] = [];
sim.on('abort', (ev: SimAbortEvent) => {
  lastAbortEvents = ev.eventsSent;
  if (aborts.length < MAX_ABORT_RECORDS) aborts.push({ model: ev.model, at: monoNow() - (performance.now() - ev.at), eventsSent: ev.eventsSent });
});
const send = (m: SimChildMessage): void => {
  process.send?.(m);
};

process.on('message', (raw: unknown) => {
  const m = raw as Partial<UpstreamRequest>;
  const id = m.id ?? 0;
  if (m.type === 'reset') {
    sim.reset();
    lastAbortEvents = 0;
    aborts = [];
  }
  if (m.type === 'stats' || m.type === 'reset') {
    send({ type: 'stats', id, stats: { ...sim.stats, lastAbortEvents } });
  }
  if (m.type === 'aborts') {
    send({ type: 'aborts', id, aborts });
    aborts = [];
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
