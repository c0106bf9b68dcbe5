// Soak test: constant mixed load for SOAK_DURATION while /status is polled; fails on memory growth
// (first vs last quarter of memory_usage_mb) or when current_connections does not return to 0 after.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Gauge, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { mixed } from './lib/chat.ts';
import { BASE_URL, durationMs, env, envNum, statusHeaders, thresholds } from './lib/options.ts';

const SOAK = env('SOAK_DURATION', '30m');
const WARMUP_MS = durationMs(env('SOAK_WARMUP', '1m')); // samples before this are not compared
const POLL_S = envNum('STATUS_INTERVAL', 10);
const MEM_TOL = envNum('MEM_TOLERANCE', 0.1); // allowed growth, share of the first-quarter average…
const MEM_TOL_MB = envNum('MEM_TOLERANCE_MB', 20); // …or this many MB, whichever is larger
const DRAIN_S = envNum('DRAIN_TIMEOUT', 30); // after k6's graceful stop
const GRACE_S = 150; // lets the ~120 s streams of the mix finish

const memoryMb = new Gauge('status_memory_mb');
const connections = new Gauge('status_connections');
const memoryFlat = new Rate('soak_memory_flat');
const drained = new Rate('soak_connections_drained');

export const options: Options = {
  scenarios: {
    load: { executor: 'constant-vus', vus: envNum('SOAK_VUS', 200), duration: SOAK, exec: 'load',
      gracefulStop: `${GRACE_S}s` },
    monitor: { executor: 'per-vu-iterations', vus: 1, iterations: 1, exec: 'monitor',
      maxDuration: `${Math.ceil(durationMs(SOAK) / 1000) + GRACE_S + DRAIN_S + 60}s` },
  },
  thresholds: {
    ...thresholds(0),
    soak_memory_flat: ['rate==1'],
    soak_connections_drained: ['rate==1'],
  },
};

export function load(): void {
  mixed();
}

interface Status { current_connections: number; memory_usage_mb: number }

function readStatus(): Status | null {
  const res = http.get(`${BASE_URL}/status`, { headers: statusHeaders, tags: { kind: 'status' } });
  if (!check(res, { '/status is 200': (r) => r.status === 200 })) return null;
  try {
    const s = JSON.parse(typeof res.body === 'string' ? res.body : '') as Status;
    memoryMb.add(s.memory_usage_mb);
    connections.add(s.current_connections);
    return s;
  } catch { return null; }
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export function monitor(): void {
  const start = Date.now();
  const loadEnd = start + durationMs(SOAK);
  const samples: number[] = [];
  while (Date.now() < loadEnd) {
    const s = readStatus();
    if (s !== null && Date.now() - start >= WARMUP_MS) samples.push(s.memory_usage_mb);
    sleep(POLL_S);
  }

  const q = Math.floor(samples.length / 4);
  if (q < 1) {
    console.error(`soak: only ${samples.length} memory samples; lengthen SOAK_DURATION or lower STATUS_INTERVAL`);
    memoryFlat.add(false);
  } else {
    const first = avg(samples.slice(0, q));
    const last = avg(samples.slice(-q));
    const ok = last - first <= Math.max(first * MEM_TOL, MEM_TOL_MB);
    console.log(`soak: memory first quarter ${first.toFixed(1)} MB, last quarter ${last.toFixed(1)} MB`);
    memoryFlat.add(ok);
    check(null, { 'memory does not trend upward': () => ok });
  }

  const deadline = loadEnd + (GRACE_S + DRAIN_S) * 1000;
  let last: Status | null = null;
  while (Date.now() < deadline) {
    last = readStatus();
    if (last !== null && last.current_connections === 0) break;
    sleep(1);
  }
  const zero = last !== null && last.current_connections === 0;
  console.log(`soak: current_connections ${last?.current_connections ?? '?'} ` +
    `${((Date.now() - loadEnd) / 1000).toFixed(0)} s after the load ended`);
  drained.add(zero);
  check(null, { 'current_connections returns to 0': () => zero });
}
