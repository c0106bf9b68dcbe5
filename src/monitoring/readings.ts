// Rolling readings shared by /status, the dashboard and the alerts: ratios, rates and latency percentiles.
import type { ServiceState } from '../state.js';

/** Request and error rates are shown over these windows (seconds). */
export const RATE_WINDOWS_S = [10, 60] as const;
/** Latency percentiles cover requests finished in this many seconds (at most the last 2048). */
export const LATENCY_WINDOW_S = 60;

/** The host of a mirror URL (never its path or anything else). */
export function mirrorHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid';
  }
}

export const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export interface RateView {
  readonly window_s: number;
  readonly requests_per_s: number;
  readonly errors_per_s: number;
  readonly shed_per_s: number;
  readonly client_aborts_per_s: number;
  /** Server errors over all requests (the guide's error_count / total_requests); null with no request in the window. */
  readonly error_rate: number | null;
}

export function rateView(s: ServiceState, seconds: number): RateView {
  const w = s.counters.rates.sums(seconds);
  return {
    window_s: seconds,
    requests_per_s: round(w.requests / w.seconds, 2),
    errors_per_s: round(w.serverErrors / w.seconds, 2),
    shed_per_s: round(w.shed / w.seconds, 2),
    client_aborts_per_s: round(w.clientAborts / w.seconds, 2),
    error_rate: w.requests > 0 ? round(w.serverErrors / w.requests, 4) : null,
  };
}

export interface PercentileView {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

const PS = [0.5, 0.95, 0.99] as const;
const ms = (x: number | null): number | null => (x === null ? null : Math.round(x));

export function latencyView(s: ServiceState): { response_time_ms: PercentileView; ttfb_ms: PercentileView } {
  const [p50, p95, p99] = s.counters.duration.percentiles(PS, LATENCY_WINDOW_S * 1000).map(ms);
  const [t50, t95, t99] = s.counters.ttfb.percentiles(PS, LATENCY_WINDOW_S * 1000).map(ms);
  return {
    response_time_ms: { p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null },
    ttfb_ms: { p50: t50 ?? null, p95: t95 ?? null, p99: t99 ?? null },
  };
}

/** Connection use: in-flight over MAX_CONCURRENT_CONNECTIONS (the guide's ratio). */
export const connectionUse = (s: ServiceState): number => round(s.admission.inFlight / s.config.MAX_CONCURRENT_CONNECTIONS, 4);
/** Memory use: RSS over MEMORY_LIMIT_MB. */
export const memoryUse = (s: ServiceState): number => round(s.memory.rssMb / s.config.MEMORY_LIMIT_MB, 4);

/** One point of the dashboard's charts (also kept as a short server-side history). */
export interface HistoryPoint {
  /** Epoch ms. */
  readonly t: number;
  readonly connections: number;
  readonly connection_use: number;
  readonly memory_use: number;
  readonly requests_per_s: number;
  readonly errors_per_s: number;
  readonly shed_per_s: number;
  readonly error_rate: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly ttfb_p95: number | null;
}

export function historyPoint(s: ServiceState): HistoryPoint {
  const r = rateView(s, RATE_WINDOWS_S[0]);
  const slow = rateView(s, RATE_WINDOWS_S[1]);
  const l = latencyView(s);
  return {
    t: Date.now(),
    connections: s.admission.inFlight,
    connection_use: connectionUse(s),
    memory_use: memoryUse(s),
    requests_per_s: r.requests_per_s,
    errors_per_s: r.errors_per_s,
    shed_per_s: r.shed_per_s,
    error_rate: slow.error_rate,
    p50: l.response_time_ms.p50,
    p95: l.response_time_ms.p95,
    p99: l.response_time_ms.p99,
    ttfb_p95: l.ttfb_ms.p95,
  };
}
