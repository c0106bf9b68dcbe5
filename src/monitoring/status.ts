// The /status document: the guide's six fields under their names, plus the service's own state (CONTRACT §6).
import { publicSettings } from '../config.js';
import type { ServiceState } from '../state.js';
import type { Monitor } from './monitor.js';
import { connectionUse, latencyView, memoryUse, mirrorHost, rateView, RATE_WINDOWS_S, LATENCY_WINDOW_S } from './readings.js';

export function statusDocument(s: ServiceState, monitor: Monitor): Record<string, unknown> {
  const c = s.counters;
  const pool = s.pool.stats();
  const uptimeMs = performance.now() - s.startedAt;
  return {
    // the guide's six fields, names unchanged
    current_connections: s.admission.inFlight,
    max_connections: s.config.MAX_CONCURRENT_CONNECTIONS,
    memory_usage_mb: Math.round(s.memory.rssMb),
    memory_limit_mb: s.config.MEMORY_LIMIT_MB,
    total_requests: c.totalRequests,
    error_count: c.errorCount,
    // identity
    instance_id: s.config.INSTANCE_ID,
    version: s.version,
    uptime_s: Math.round(uptimeMs / 1000),
    started_at: new Date(Date.now() - uptimeMs).toISOString(),
    native_uws: s.nativeUws,
    draining: s.admission.draining,
    // the guide's ratios
    connection_use: connectionUse(s),
    memory_use: memoryUse(s),
    // admission and outcomes
    capacity: s.admission.capacity,
    queue_length: s.admission.queueLength,
    shed_count: s.admission.shed,
    server_errors: c.errorCount,
    client_aborts: c.clientAborts,
    upstream_aborts: c.upstreamAborts,
    malformed_events: c.malformedEvents,
    events_relayed: c.eventsRelayed,
    tokens: { prompt: c.promptTokens, completion: c.completionTokens, total: c.promptTokens + c.completionTokens },
    bytes_relayed: c.bytesRelayed,
    outcomes: Object.fromEntries(c.byOutcome),
    // rolling windows
    rates: Object.fromEntries(RATE_WINDOWS_S.map((w) => [`last_${w}s`, rateView(s, w)])),
    latency_window_s: LATENCY_WINDOW_S,
    ...latencyView(s),
    event_loop_delay_ms: monitor.loopDelay(),
    memory: {
      rss_mb: Math.round(s.memory.rssMb),
      ...heapFigures(),
      gc_runs: s.memory.gcRuns,
      shedding: s.admission.memoryPressure,
    },
    pool: {
      size: pool.size,
      inline: pool.inline,
      busy: pool.busy.reduce((a, b) => a + b, 0),
      busy_per_worker: pool.busy,
      restarts: pool.restarts,
      serving: pool.serving,
      collections: pool.collections,
    },
    mirrors: s.config.DEEPINFRA_MIRRORS.map((url, index) => {
      const m = s.health.view(index);
      return {
        index,
        host: mirrorHost(url),
        circuit: m.circuit,
        latency_ms: m.latencyMs < 0 ? null : m.latencyMs,
        consecutive_failures: m.consecutiveFailures,
        attempts: m.attempts,
        failures: m.failures,
      };
    }),
    alerts: monitor.alerts.list(),
    alert_thresholds: { connections: s.config.ALERT_CONNECTIONS, memory: s.config.ALERT_MEMORY, error_rate: s.config.ALERT_ERROR_RATE },
    settings: publicSettings(s.config),
  };
}

/**
 * The main thread's V8 heap (used, and committed: what it holds in RSS) and the memory outside it (ArrayBuffers:
 * request bodies, socket reads, queued bytes).
 */
function heapFigures(): Record<'heap_used_mb' | 'heap_total_mb' | 'external_mb' | 'array_buffers_mb', number> {
  const m = process.memoryUsage();
  const mb = (x: number): number => Math.round(x / 1048576);
  return { heap_used_mb: mb(m.heapUsed), heap_total_mb: mb(m.heapTotal), external_mb: mb(m.external), array_buffers_mb: mb(m.arrayBuffers) };
}
