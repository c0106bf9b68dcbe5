// Assembles one running service: uWS front end, worker pool, admission, counters, sweep, and graceful shutdown.
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Counters } from './counters.js';
import { Admission } from './admission.js';
import { MemoryMonitor } from './memory.js';
import { StreamPool } from './pool/pool.js';
import type { WorkerConfig } from '../workers/protocol.js';
import { closeListen, createApp, listen, loadUws, type ListenSocket } from './http/uws.js';
import { mountRoutes, type ExtraRoutes } from './http/server.js';
import type { ActiveExchange, ServiceState } from './state.js';
import { proxySummary, publicSettings } from './config.js';

const SWEEP_MS = 100;

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface ServiceOptions {
  readonly log?: Logger;
  /** Extra GET routes (monitoring), mounted with the same auth rules as /status. */
  readonly routes?: (s: ServiceState) => ExtraRoutes;
}

export interface Service {
  readonly port: number;
  readonly state: ServiceState;
  /** SIGTERM behaviour: not ready, stop listening, let streams finish up to the grace, end the rest (§4). */
  shutdown(graceMs?: number): Promise<void>;
}

export function workerConfig(c: Config): WorkerConfig {
  return {
    mirrors: c.DEEPINFRA_MIRRORS,
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
    maxBodyBytes: c.MAX_BODY_SIZE,
    maxEventBytes: c.MAX_EVENT_SIZE,
    httpProxy: c.HTTP_PROXY ?? null,
    httpsProxy: c.HTTPS_PROXY ?? null,
    noProxy: c.NO_PROXY ?? null,
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
  const memory = new MemoryMonitor(config.MEMORY_LIMIT_MB, config.GC_THRESHOLD, admission, log);
  const pool = await StreamPool.start({
    size: config.POOL_SIZE,
    workerConfig: workerConfig(config),
    maxOldGenerationMb: config.WORKER_MAX_OLD_GENERATION_MB,
    onRestart: (index, error) => log.error({ worker: index, error }, 'stream worker died; replaced'),
  });
  const state: ServiceState = {
    config, log, counters: new Counters(), admission, pool, memory,
    active: new Set<ActiveExchange>(), events: new EventEmitter(), startedAt: performance.now(), version: VERSION, nativeUws: rt.native,
  };
  const app = createApp(rt);
  mountRoutes(app, state, opts.routes?.(state));
  let socket: ListenSocket | null;
  let port: number;
  try {
    ({ socket, port } = await listen(rt, app, config.HOST, config.PORT));
  } catch (e) {
    await pool.close();
    throw e;
  }
  memory.start();
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const ex of state.active) ex.sweep(now);
  }, SWEEP_MS);

  log.info(
    { port, host: config.HOST, instance_id: config.INSTANCE_ID, version: VERSION, native_uws: rt.native, settings: publicSettings(config), sources: config.sources },
    'deepinfra-proxy listening',
  );

  let shuttingDown: Promise<void> | null = null;
  return {
    port,
    state,
    shutdown(graceMs = config.SHUTDOWN_GRACE_MS) {
      shuttingDown ??= (async () => {
        admission.draining = true;
        admission.rejectQueued('draining');
        state.events.emit('shutdown');
        if (socket) closeListen(rt, socket);
        socket = null;
        log.info({ in_flight: state.active.size, grace_ms: graceMs }, 'shutting down: draining in-flight requests');
        if (state.active.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, graceMs);
            function done(): void {
              clearTimeout(timer);
              state.events.off('idle', done);
              resolve();
            }
            state.events.on('idle', done);
          });
        }
        admission.closed = true;
        for (const ex of [...state.active]) ex.shutdown();
        clearInterval(sweep);
        memory.stop();
        await pool.close();
        log.info({ total_requests: state.counters.totalRequests }, 'shutdown complete');
        log.flush?.();
      })();
      return shuttingDown;
    },
  };
}
