// The only user of undici: one upstream attempt as a dispatch with pause/resume, behind an interface tests can fake.
import { Agent, EnvHttpProxyAgent, Pool, type Client, type Dispatcher, type buildConnector } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { boundedConnector, boundReads, readAgain, type ReadBound } from './connector.js';
import { cachedLookup } from './dns-cache.js';
import { FreeListPool, socketOf, type ConnectionAware } from './free-pool.js';
import { stackless } from './stackless.js';
import type { RouteKind, WorkerConfig } from './protocol.js';

const PATHS: Readonly<Record<RouteKind, string>> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  models: '/models',
  images: '/images/generations',
  speech: '/audio/speech',
  transcriptions: '/audio/transcriptions',
  translations: '/audio/translations',
  responses: '/chat/completions', // translated (workers/responses)
};

/** What an attempt's owner may do to the upstream response (undici's DispatchController, or a fake). */
export interface Controller {
  readonly paused: boolean;
  readonly aborted: boolean;
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
  /**
   * Bounds what the response's socket reads ahead to `bound` (the stream's credit), where the socket allows it (a
   * plain mirror's); null lifts the bound. Call it from onHeaders (the response's socket is known then).
   */
  boundReads(bound: ReadBound | null): void;
  /** The bound's allowance grew (credit came back): a socket that stopped for it reads again. */
  readAgain(): void;
}

/** Callbacks of one attempt. */
export interface AttemptHandler {
  onStart(controller: Controller): void;
  onHeaders(status: number, headers: IncomingHttpHeaders): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

export interface AttemptRequest {
  readonly kind: RouteKind;
  /** The mirror's base URL (DEEPINFRA_MIRRORS entry). */
  readonly mirror: string;
  /** null: a GET. */
  readonly body: Uint8Array | null;
  /** The body's content-type when it is not JSON (a multipart upload, boundary included). */
  readonly contentType?: string;
  readonly stream: boolean;
  readonly reqId: string;
  readonly traceparent: string | null;
  readonly headersTimeoutMs: number;
}

/** Sends one attempt; every outcome arrives on the handler (never thrown). */
export type Dispatch = (req: AttemptRequest, h: AttemptHandler) => void;

export interface Upstream {
  readonly dispatch: Dispatch;
  close(): Promise<void>;
}

interface Target {
  readonly origin: string;
  readonly basePath: string;
}

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
    // each branch below gives its own `connect` (both with CONNECT_TIMEOUT and the DNS cache)
    // redirects are errors here: dispatch never follows them (no redirect interceptor is installed)
  };
  // every origin's connections come from a free list (workers/free-pool.ts), direct or through a proxy's tunnels
  const factory = (origin: string | URL, opts: object): Dispatcher => new FreeListPool(origin, opts);
  // reads of plain-HTTP mirrors bounded (workers/connector.ts); a proxied connection keeps undici's own connector
  if (!config.httpProxy && !config.httpsProxy) {
    return new Agent({ ...options, connect: boundedConnector(config.connectTimeoutMs), factory });
  }
  const timeout = config.connectTimeoutMs;
  // the proxy's host name (and a NO_PROXY mirror's) resolved as a direct mirror's is (workers/dns-cache.ts)
  const lookup = cachedLookup();
  return new EnvHttpProxyAgent({
    ...options,
    connect: { timeout, lookup } as buildConnector.BuildOptions,
    httpProxy: config.httpProxy ?? '',
    httpsProxy: config.httpsProxy ?? '',
    noProxy: config.noProxy ?? '',
    // CONNECT_TIMEOUT covers the whole way to a usable socket: TCP to the proxy, its answer to CONNECT, and TLS
    // to the mirror inside the tunnel (the `connect` option above only reaches mirrors that are not proxied)
    proxyTls: { timeout, lookup } as buildConnector.BuildOptions,
    requestTls: { timeout },
    factory,
    clientFactory: (origin, opts) => new Pool(origin, { ...opts, headersTimeout: timeout }),
  });
}

/** The undici client of one worker: a pooled dispatcher sized from MAX_CONCURRENT_CONNECTIONS. */
export function createUpstream(config: WorkerConfig): Upstream {
  const agent = createAgent(config);
  const targets = new Map<string, Target>();
  const target = (mirror: string): Target => {
    let t = targets.get(mirror);
    if (t === undefined) {
      const u = new URL(mirror);
      t = { origin: u.origin, basePath: u.pathname.replace(/\/+$/, '') };
      targets.set(mirror, t);
    }
    return t;
  };
  return {
    dispatch(req, h) {
      const headers: Record<string, string> = {
        accept: req.kind === 'speech' ? '*/*' : req.stream ? 'text/event-stream' : 'application/json',
        'accept-encoding': 'identity',
        'user-agent': 'deepinfra-proxy',
        'x-request-id': req.reqId,
      };
      if (req.body) headers['content-type'] = req.contentType ?? 'application/json';
      if (req.traceparent) headers.traceparent = req.traceparent;
      if (config.upstreamApiKey) headers.authorization = `Bearer ${config.upstreamApiKey}`;
      const { origin, basePath } = target(req.mirror);
      agent.dispatch(
        {
          origin,
          path: basePath + PATHS[req.kind],
          method: req.body ? 'POST' : 'GET',
          headers,
          body: req.body ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength) : null,
          headersTimeout: Math.max(1, req.headersTimeoutMs),
          bodyTimeout: 0, // the gap between events is watched by the exchange (it must not fire while we pause)
          blocking: false,
        },
        new Attempt(h),
      );
    },
    close: () => agent.close(),
  };
}

/** Errors that mean the upstream did not answer in time (vs could not be reached). */
export function isTimeoutError(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/**
 * Aborts an upstream response unless it is over already. The errors made on the way (this one, undici's own, the
 * socket's) are never shown, and Node formats a stack for each when it destroys the socket: with stack traces off
 * for the call, 1000 clients leaving at once cost 1000 empty stacks instead of 1000 formatted ones.
 */
export function abortQuietly(c: Controller): void {
  if (c.aborted) return;
  stackless(() => {
    try {
      c.abort(new Error('exchange over'));
    } catch {
      /* the request already finished */
    }
  });
}

/**
 * One attempt as undici's own handler (its core interface: no adapter layer, no parsed copy of every header,
 * nothing kept of the raw headers once read) and as the Controller its owner pauses, resumes and aborts.
 */
class Attempt implements Controller, ConnectionAware {
  #abort: ((reason: Error) => void) | null = null;
  #client: Client | null = null;
  /** The socket whose reads are bounded (set by boundReads). */
  #bounded: Socket | null = null;
  #resume: (() => void) | null = null;
  #paused = false;
  #aborted = false;

  constructor(private readonly h: AttemptHandler) {}

  get paused(): boolean {
    return this.#paused;
  }
  get aborted(): boolean {
    return this.#aborted;
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#resume?.();
  }
  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abort?.(reason);
  }
  boundReads(bound: ReadBound | null): void {
    if (bound === null) {
      if (this.#bounded !== null) boundReads(this.#bounded, null);
      this.#bounded = null;
      return;
    }
    const socket = this.#client === null ? undefined : socketOf(this.#client);
    if (socket !== undefined && boundReads(socket, bound)) this.#bounded = socket;
  }
  readAgain(): void {
    if (this.#bounded !== null) readAgain(this.#bounded);
  }

  // the free-list pool's word on the connection this request was given (its socket is found from it)
  onConnection(client: Client): void {
    this.#client = client;
  }

  // undici's handler interface (a false return pauses the socket until resume())
  onConnect(abort: (reason: Error) => void): void {
    this.#abort = abort;
    this.h.onStart(this);
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.#resume = resume;
    this.h.onHeaders(status, readHeaders(raw));
    return !this.#paused;
  }
  onData(chunk: Buffer): boolean {
    this.h.onData(chunk);
    return !this.#paused;
  }
  onComplete(): void {
    this.boundReads(null); // the connection is clean for its next request, whatever the owner did
    this.h.onEnd();
  }
  onError(err: Error): void {
    this.boundReads(null);
    this.h.onError(err);
  }
}

/** The response headers the proxy reads (content type and encoding, Retry-After, rate limits), names lowercase. */
function readHeaders(raw: Buffer[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (!READ_HEADERS.has(name) && !name.startsWith('x-ratelimit-')) continue;
    const value = raw[i + 1]!.toString('latin1');
    const prev = out[name];
    out[name] = prev === undefined ? value : `${String(prev)}, ${value}`;
  }
  return out;
}

const READ_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-encoding', 'retry-after', 'retry-after-ms', 'openai-processing-ms']);
