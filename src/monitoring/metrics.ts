// /metrics: the service's counters, gauges and histograms in Prometheus text format (a private prom-client registry).
import { Counter, Gauge, Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from './tally.js';
import type { Finished } from '../counters.js';
import type { ServiceState } from '../state.js';
import { REFUSALS } from '../admission.js';
import type { Monitor } from './monitor.js';
import { mirrorHost } from './readings.js';

const TTFB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const CIRCUIT = { closed: 0, half_open: 1, open: 2 } as const;
/** Distinct model names that get a label of their own in the token counter; later ones count as "other". */
export const MODEL_LABELS = 100;

/** A bounded label set for client-chosen names: the first `max` seen keep theirs, the rest are "other". */
class BoundedLabels {
  readonly #seen = new Set<string>();
  constructor(private readonly max: number) {}
  label(name: string): string {
    if (this.#seen.has(name)) return name;
    if (this.#seen.size >= this.max) return 'other';
    this.#seen.add(name);
    return name;
  }
}

/** Turns a cumulative figure read at scrape time into the increment since the previous scrape. */
class Monotonic {
  readonly #last = new Map<string, number>();
  delta(key: string, cur: number): number {
    const prev = this.#last.get(key) ?? 0;
    this.#last.set(key, cur);
    return Math.max(0, cur - prev);
  }
}

export class Metrics {
  readonly registry = new Registry();

  constructor(s: ServiceState, monitor: Monitor) {
    const r = [this.registry];
    const mono = new Monotonic();

    // the per-request figures are tallies (plain numbers per label set), read by the registry at scrape time
    const registry = this.registry;
    const requests = new TallyCounter('deepinfra_requests_total', 'Proxied requests by route, status and outcome.', ['route', 'status', 'outcome'], registry);
    const shed = new TallyCounter('deepinfra_shed_total', 'Requests refused by admission (503/429) by reason.', ['reason'], registry);
    const upstreamAborts = new TallyCounter('deepinfra_upstream_aborts_total', 'Streams broken after their first byte (outcome stream_error), by code.', ['code'], registry);
    const duration = new TallyHistogram('deepinfra_request_duration_seconds', 'Time from request to the last byte, by route and outcome.', ['route', 'outcome'], DURATION_BUCKETS, registry);
    const ttfb = new TallyHistogram('deepinfra_ttfb_seconds', 'Time from request to the first response byte, by route.', ['route'], TTFB_BUCKETS, registry);
    const tokens = new TallyCounter('deepinfra_tokens_total', `Tokens the upstream reported, by model (the first ${MODEL_LABELS} names; then "other") and kind (prompt, completion).`, ['model', 'kind'], registry);
    const models = new BoundedLabels(MODEL_LABELS);

    for (const reason of REFUSALS) shed.inc([reason], 0); // present (at 0) before the first shed: rate() works at once

    s.counters.listeners.push((f: Finished) => {
      requests.inc([f.route, String(f.status), f.outcome]);
      if (f.outcome === 'shed') shed.inc([f.code ?? 'unknown']);
      else if (f.outcome === 'stream_error') upstreamAborts.inc([f.code ?? 'unknown']);
      duration.observe([f.route, f.outcome], f.durationMs / 1000);
      if (f.ttfbMs !== null) ttfb.observe([f.route], f.ttfbMs / 1000);
      if (f.usage) {
        const model = models.label(f.model ?? 'unknown');
        if (f.usage.promptTokens > 0) tokens.inc([model, 'prompt'], f.usage.promptTokens);
        if (f.usage.completionTokens > 0) tokens.inc([model, 'completion'], f.usage.completionTokens);
      }
    });
    const total = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers: r, collect() { this.inc(mono.delta(name, read())); } });
    };
    total('deepinfra_client_aborts_total', 'Requests whose client went away first.', () => s.counters.clientAborts);
    total('deepinfra_events_relayed_total', 'SSE events relayed to clients.', () => s.counters.eventsRelayed);
    total('deepinfra_bytes_relayed_total', 'Response body bytes sent to clients.', () => s.counters.bytesRelayed);

    new Counter({
      name: 'deepinfra_malformed_events_total', help: 'Malformed upstream SSE events skipped.', registers: r,
      collect() { this.inc(mono.delta('malformed', s.counters.malformedEvents)); },
    });
    new Counter({
      name: 'deepinfra_upstream_attempts_total', help: 'Upstream requests tried, per mirror index.', labelNames: ['mirror'], registers: r,
      collect() { s.health.views().forEach((m, i) => this.inc({ mirror: String(i) }, mono.delta(`att${i}`, m.attempts))); },
    });
    new Counter({
      name: 'deepinfra_upstream_failures_total', help: 'Upstream attempts that failed, per mirror index.', labelNames: ['mirror'], registers: r,
      collect() { s.health.views().forEach((m, i) => this.inc({ mirror: String(i) }, mono.delta(`fail${i}`, m.failures))); },
    });
    new Counter({
      name: 'deepinfra_worker_restarts_total', help: 'Stream workers that died and were replaced.', registers: r,
      collect() { this.inc(mono.delta('restarts', s.pool.stats().restarts)); },
    });
    new Counter({
      name: 'deepinfra_process_cpu_seconds_total', help: 'CPU time of the process (user + system, all threads).', registers: r,
      collect() { const u = process.cpuUsage(); this.inc(mono.delta('cpu', (u.user + u.system) / 1e6)); },
    });

    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: r, collect() { this.set(read()); } });
    };
    const c = s.config;
    gauge('deepinfra_in_flight', 'Proxied requests in flight (the guide\'s current_connections).', () => s.admission.inFlight);
    gauge('deepinfra_in_flight_peak', 'Highest in-flight since the previous scrape.', () => s.admission.takePeak());
    gauge('deepinfra_max_connections', 'MAX_CONCURRENT_CONNECTIONS.', () => c.MAX_CONCURRENT_CONNECTIONS);
    gauge('deepinfra_admission_capacity', 'In-flight requests admitted before shedding (max × SHED_THRESHOLD).', () => s.admission.capacity);
    gauge('deepinfra_connection_use', 'In-flight over MAX_CONCURRENT_CONNECTIONS (0..1).', () => s.admission.inFlight / c.MAX_CONCURRENT_CONNECTIONS);
    gauge('deepinfra_queue_length', 'Requests waiting in the admission queue.', () => s.admission.queueLength);
    gauge('deepinfra_memory_rss_bytes', 'Resident set size, as last sampled.', () => Math.round(s.memory.rssMb * 1048576));
    gauge('deepinfra_memory_limit_bytes', 'MEMORY_LIMIT_MB in bytes.', () => c.MEMORY_LIMIT_MB * 1048576);
    gauge('deepinfra_memory_use', 'RSS over MEMORY_LIMIT_MB (0..1).', () => s.memory.rssMb / c.MEMORY_LIMIT_MB);
    gauge('deepinfra_memory_shedding', '1 while new requests are shed for memory.', () => (s.admission.memoryPressure ? 1 : 0));
    gauge('deepinfra_draining', '1 while shutting down.', () => (s.admission.draining ? 1 : 0));
    gauge('deepinfra_pool_size', 'Stream worker threads (0: inline on the main thread).', () => s.pool.stats().size);
    gauge('deepinfra_pool_busy', 'Streams in flight in the worker pool.', () => s.pool.stats().busy.reduce((a, b) => a + b, 0));
    gauge('deepinfra_uptime_seconds', 'Seconds since the service started.', () => (performance.now() - s.startedAt) / 1000);

    new Gauge({
      name: 'deepinfra_build_info', help: 'Version and instance of this service (always 1).', labelNames: ['version', 'instance_id', 'native_uws'], registers: r,
      collect() { this.set({ version: s.version, instance_id: c.INSTANCE_ID, native_uws: String(s.nativeUws) }, 1); },
    });
    new Gauge({
      name: 'deepinfra_mirror_info', help: 'Upstream mirror index to host (always 1).', labelNames: ['mirror', 'host'], registers: r,
      collect() { c.DEEPINFRA_MIRRORS.forEach((url, i) => this.set({ mirror: String(i), host: mirrorHost(url) }, 1)); },
    });
    new Gauge({
      name: 'deepinfra_mirror_circuit_state', help: 'Circuit breaker per mirror: 0 closed, 1 half-open, 2 open.', labelNames: ['mirror'], registers: r,
      collect() { s.health.views().forEach((m, i) => this.set({ mirror: String(i) }, CIRCUIT[m.circuit])); },
    });
    new Gauge({
      name: 'deepinfra_mirror_latency_seconds', help: 'Smoothed time to upstream headers per mirror.', labelNames: ['mirror'], registers: r,
      collect() { s.health.views().forEach((m, i) => { if (m.latencyMs >= 0) this.set({ mirror: String(i) }, m.latencyMs / 1000); }); },
    });
    gauge('deepinfra_event_loop_delay_p50_seconds', 'Main-thread event-loop delay, median over the last ~10 s.', () => monitor.loopDelay().p50_ms / 1000);
    gauge('deepinfra_event_loop_delay_p99_seconds', 'Main-thread event-loop delay, p99 over the last ~10 s.', () => monitor.loopDelay().p99_ms / 1000);
    gauge('deepinfra_event_loop_delay_max_seconds', 'Main-thread event-loop delay, worst over the last ~10 s.', () => monitor.loopDelay().max_ms / 1000);
    new Gauge({
      name: 'deepinfra_alert_active', help: 'The guide\'s alerts: 1 while firing.', labelNames: ['alert', 'severity'], registers: r,
      collect() {
        const firing = new Set(monitor.alerts.list().map((a) => a.name));
        for (const rule of monitor.alerts.rules) this.set({ alert: rule.name, severity: rule.severity }, firing.has(rule.name) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'deepinfra_alert_threshold', help: 'The threshold of each alert (ALERT_* settings).', labelNames: ['alert'], registers: r,
      collect() { for (const rule of monitor.alerts.rules) this.set({ alert: rule.name }, rule.threshold); },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
