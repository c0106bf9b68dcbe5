// The only user of undici: one upstream attempt as a dispatch with pause/resume, and the header allow-lists.
import { Agent, EnvHttpProxyAgent, Pool, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteKind, WorkerConfig } from './protocol.js';
import type { PickedMirror } from './mirrors.js';

const PATHS: Readonly<Record<RouteKind, string>> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  models: '/models',
};

/**
 * The upstream dispatcher: a plain Agent, or undici's EnvHttpProxyAgent when HTTP_PROXY or HTTPS_PROXY is set.
 * The proxy values are always passed explicitly ('' for unset): EnvHttpProxyAgent falls back to process.env for
 * an option left undefined, and workers never read the environment. Through a proxy every upstream connection is
 * a CONNECT tunnel (http mirrors too), and the per-origin pools inside keep the same `connections` cap.
 */
export function createAgent(config: WorkerConfig): Dispatcher {
  const options = {
    connections: config.maxUpstreamConnections,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    connect: { timeout: config.connectTimeoutMs },
    // redirects are errors here: dispatch never follows them (no redirect interceptor is installed)
  };
  if (!config.httpProxy && !config.httpsProxy) return new Agent(options);
  const timeout = config.connectTimeoutMs;
  return new EnvHttpProxyAgent({
    ...options,
    httpProxy: config.httpProxy ?? '',
    httpsProxy: config.httpsProxy ?? '',
    noProxy: config.noProxy ?? '',
    // CONNECT_TIMEOUT covers the whole way to a usable socket: TCP to the proxy, its answer to CONNECT, and TLS
    // to the mirror inside the tunnel (the `connect` option above only reaches mirrors that are not proxied)
    proxyTls: { timeout },
    requestTls: { timeout },
    clientFactory: (origin, opts) => new Pool(origin, { ...opts, headersTimeout: timeout }),
  });
}

/** Callbacks of one attempt; `controller` is what pauses, resumes and aborts the upstream body. */
export interface AttemptHandler {
  onStart(controller: Dispatcher.DispatchController): void;
  onHeaders(status: number, headers: IncomingHttpHeaders): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

export interface AttemptOptions {
  readonly kind: RouteKind;
  readonly mirror: PickedMirror;
  readonly body: Uint8Array | null;
  readonly stream: boolean;
  readonly reqId: string;
  readonly headersTimeoutMs: number;
}

export function dispatchAttempt(agent: Dispatcher, config: WorkerConfig, o: AttemptOptions, h: AttemptHandler): void {
  const headers: Record<string, string> = {
    accept: o.stream ? 'text/event-stream' : 'application/json',
    'accept-encoding': 'identity',
    'user-agent': 'deepinfra-proxy',
    'x-request-id': o.reqId,
  };
  if (o.body) headers['content-type'] = 'application/json';
  if (config.upstreamApiKey) headers.authorization = `Bearer ${config.upstreamApiKey}`;
  agent.dispatch(
    {
      origin: o.mirror.origin,
      path: o.mirror.basePath + PATHS[o.kind],
      method: o.body ? 'POST' : 'GET',
      headers,
      body: o.body ? Buffer.from(o.body.buffer, o.body.byteOffset, o.body.byteLength) : null,
      headersTimeout: Math.max(1, o.headersTimeoutMs),
      bodyTimeout: 0, // the gap between events is watched by the exchange (it must not fire while we pause)
      blocking: false,
    },
    {
      onRequestStart: (controller) => h.onStart(controller),
      onResponseStart: (_c, status, hdrs) => h.onHeaders(status, hdrs),
      onResponseData: (_c, chunk) => h.onData(chunk),
      onResponseEnd: () => h.onEnd(),
      onResponseError: (_c, err) => h.onError(err),
    },
  );
}

/** Upstream response headers a client may see (names lowercase). Everything else stays here. */
export function allowedResponseHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined) continue;
    const n = name.toLowerCase();
    if (n === 'retry-after' || n === 'retry-after-ms' || n.startsWith('x-ratelimit-') || n === 'openai-processing-ms') {
      const v = Array.isArray(raw) ? raw.join(', ') : raw;
      if (!/[\r\n]/.test(v) && v.length <= 256) out[n] = v;
    }
  }
  return out;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Seconds or ms of an upstream Retry-After (retry-after-ms first), or null. */
export function retryAfterMs(headers: IncomingHttpHeaders): number | null {
  const ms = Number(headerValue(headers, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const ra = headerValue(headers, 'retry-after');
  if (ra === undefined) return null;
  const s = Number(ra);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
}

/** Upstream statuses worth another attempt (possibly on the next mirror). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504 || status === 529;
}

/** Errors that mean the upstream did not answer in time (vs could not be reached). */
export function isTimeoutError(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}
