// The /status document: the guide's six fields under their names, plus the service's own state (CONTRACT §6).
import { publicSettings } from './config.js';
import type { ServiceState } from './state.js';

export function statusDocument(s: ServiceState): Record<string, unknown> {
  const c = s.counters;
  const pool = s.pool.stats();
  const [p50, p95, p99] = c.duration.percentiles([0.5, 0.95, 0.99]);
  const [t50, t95, t99] = c.ttfb.percentiles([0.5, 0.95, 0.99]);
  return {
    current_connections: s.admission.inFlight,
    max_connections: s.config.MAX_CONCURRENT_CONNECTIONS,
    memory_usage_mb: Math.round(s.memory.rssMb),
    memory_limit_mb: s.config.MEMORY_LIMIT_MB,
    total_requests: c.totalRequests,
    error_count: c.errorCount,
    instance_id: s.config.INSTANCE_ID,
    version: s.version,
    uptime_s: Math.round((performance.now() - s.startedAt) / 1000),
    native_uws: s.nativeUws,
    draining: s.admission.draining,
    queue_length: s.admission.queueLength,
    shed_count: s.admission.shed,
    client_aborts: c.clientAborts,
    upstream_aborts: c.upstreamAborts,
    malformed_events: c.malformedEvents,
    response_time_ms: { p50, p95, p99 },
    ttfb_ms: { p50: t50, p95: t95, p99: t99 },
    pool: { size: pool.size, inline: pool.inline, busy: pool.busy, restarts: pool.restarts },
    mirrors: pool.mirrors.map((m) => ({
      circuit: m.circuit,
      latency_ms: m.latencyMs,
      consecutive_failures: m.consecutiveFailures,
      attempts: m.attempts,
      failures: m.failures,
    })),
    settings: publicSettings(s.config),
  };
}
