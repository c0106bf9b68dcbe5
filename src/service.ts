// Assembles one running service: uWS front end, worker pool, admission, counters, sweep, and graceful shutdown.
import { readFileSync } from 'node:fs';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Counters } from './counters.js';
import { Admission } from './admission.js';
import { MemoryMonitor } from './memory.js';
import { StreamPool } from './pool/pool.js';
import { IdTable, MirrorHealth, type WorkerConfig } from '../workers/protocol.js';
import { createApp, listen, loadUws, type Listener } from './http/uws.js';
import { mountRoutes } from './http/server.js';
import type { ActiveExchange, ServiceState } from './state.js';
import { proxySummary, publicSettings } from './config.js';
import { Signal } from './signal.js';
import { Monitor } from './monitoring/monitor.js';
import { Metrics } from './monitoring/metrics.js';
import { monitoringRoutes } from './monitoring/routes.js';

const SWEEP_MS = 100;

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface ServiceOptions {
  readonly log?: Logger;
}

export interface Service {
  readonly port: number;
  readonly state: ServiceState;
  /** Alerts, event-loop delay and chart history, ticking once a second until shutdown. */
  readonly monitor: Monitor;
  /** SIGTERM behaviour: not ready, stop listening, let streams finish up to the grace, end the rest (§4). */
  shutdown(graceMs?: number): Promise<void>;
}

export function workerConfig(c: Config, health: SharedArrayBuffer = MirrorHealth.allocate(c.DEEPINFRA_MIRRORS.length)): WorkerConfig {
  return {
    mirrors: c.DEEPINFRA_MIRRORS,
    health,
    upstreamApiKey: c.DEEPINFRA_API_KEY ?? null,
    maxRetries: c.MAX_RETRIES,
    retryDelayMs: c.RETRY_DELAY,
    retryAfterCapMs: c.RETRY_AFTER_CAP,
    connectTimeoutMs: c.CONNECT_TIMEOUT,
    circuitFailures: c.CIRCUIT_FAILURES,
    circuitResetMs: c.CIRCUIT_RESET_MS,
    maxUpstreamConnections: c.MAX_CONCURRENT_CONNECTIONS + 64,
    reasoningFormat: c.REASONING_FORMAT,
    modelsCacheTtlMs: c.MODELS_CACHE_TTL,
    maxResponseBytes: c.MAX_RESPONSE_SIZE,
    maxEventBytes: c.MAX_EVENT_SIZE,
    logDetails: c.ENABLE_DETAILED_LOGGING,
    logPrompts: c.LOG_USER_MESSAGES,
    logCompletions: c.LOG_RESPONSE_CONTENT,
    httpProxy: c.HTTP_PROXY ?? null,
    httpsProxy: c.HTTPS_PROXY ?? null,
    noProxy: c.NO_PROXY ?? null,
    modelAliases: c.MODEL_ALIASES,
  };
}

export async function startService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const log = opts.log ?? createLogger(config.LOG_LEVEL);
  for (const w of config.warnings) log.warn({ setting: 'DEEPINFRA_MIRRORS' }, w);
  const proxy = proxySummary(config);
  if (proxy) log.info({ proxy }, 'upstream requests go through a forward proxy (HTTP_PROXY / HTTPS_PROXY, except NO_PROXY)');
  const rt = loadUws(config.REQUIRE_NATIVE_UWS);
  if (!rt.native) log.error({ error: rt.nativeError }, 'uWebSockets.js native build NOT loaded: running on the slow JS fallback');
  const admission = new Admission({
    max: config.MAX_CONCURRENT_CONNECTIONS,
    shedThreshold: config.SHED_THRESHOLD,
    queueSize: config.CONNECTION_QUEUE_SIZE,
    queueTimeoutMs: config.QUEUE_TIMEOUT,
    perKey: config.MAX_CONNECTIONS_PER_KEY,
  });
  const healthBuffer = MirrorHealth.allocate(config.DEEPINFRA_MIRRORS.length);
  const health = new MirrorHealth(healthBuffer, config.DEEPINFRA_MIRRORS.length, config.CIRCUIT_FAILURES, config.CIRCUIT_RESET_MS);
  const pool = await StreamPool.start({
    size: config.POOL_SIZE,
    workerConfig: workerConfig(config, healthBuffer),
    maxOldGenerationMb: config.WORKER_MAX_OLD_GENERATION_MB,
    onRestart: (index, error, delayMs) => log.error({ worker: index, error, restart_in_ms: delayMs }, 'stream worker died; replacing it'),
    onError: (error) => log.error({ error }, 'stream worker pool error'),
  });
  const memory = new MemoryMonitor(config.MEMORY_LIMIT_MB, config.GC_THRESHOLD, admission, log, () => pool.collectGarbage());
  const state: ServiceState = {
    config, log, counters: new Counters(), admission, pool, memory, health,
    active: new IdTable<ActiveExchange>(), hooks: { idle: new Signal(), queued: new Signal<string>() },
    startedAt: performance.now(), version: VERSION, nativeUws: rt.native,
  };
  const monitor = new Monitor(state);
  const metrics = config.ENABLE_METRICS ? new Metrics(state, monitor) : null;
  const app = createApp(rt);
  mountRoutes(app, state, monitoringRoutes(state, monitor, metrics));
  let listener: Listener | null;
  let port: number;
  try {
    listener = await listen(rt, app, config.HOST, config.PORT);
    port = listener.port;
  } catch (e) {
    await pool.close();
    throw e;
  }
  memory.start();
  monitor.start(); // alerts are evaluated (and logged) from the start, not from the first /status
  const sweep = setInterval(() => {
    const now = performance.now();
    state.active.forEach((ex) => ex.sweep(now)); // 10 times a second (IdTable.forEach lists the entries first: a sweep may finish some)
  }, SWEEP_MS);

  log.info(
    { port, host: config.HOST, instance_id: config.INSTANCE_ID, version: VERSION, native_uws: rt.native, settings: publicSettings(config), sources: config.sources },
    'deepinfra-proxy listening',
  );

  let shuttingDown: Promise<void> | null = null;
  return {
    port,
    state,
    monitor,
    shutdown(graceMs = config.SHUTDOWN_GRACE_MS) {
      shuttingDown ??= (async () => {
        admission.drain();
        listener?.close();
        listener = null;
        log.info({ in_flight: state.active.size, grace_ms: graceMs }, 'shutting down: draining in-flight requests');
        if (state.active.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, graceMs);
            const off = state.hooks.idle.on(done);
            function done(): void {
              clearTimeout(timer);
              off();
              resolve();
            }
          });
        }
        admission.close();
        for (const ex of [...state.active]) ex.shutdown();
        clearInterval(sweep);
        memory.stop();
        monitor.stop();
        await pool.close();
        log.info({ total_requests: state.counters.totalRequests }, 'shutdown complete');
        log.flush?.();
      })();
      return shuttingDown;
    },
  };
}
