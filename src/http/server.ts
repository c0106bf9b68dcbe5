// Routing on uWS: exact paths, 404/405 with Allow, CORS, auth before the body, and the monitoring routes.
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';
import type { RouteKind } from '../../workers/protocol.js';
import type { ServiceState } from '../state.js';
import { bearerToken, KeyRing, tokenMatches } from '../auth.js';
import { send, sendError, type ErrorOptions, type ResponseContext } from './respond.js';
import type { ErrorCode } from '../errors.js';
import { outcomeOf } from '../counters.js';
import { recordRequest } from '../outcome.js';
import { handleProxy } from './proxy.js';
import { randomUUID } from 'node:crypto';
import { REQ } from './names.js';

/** A monitoring or utility route: answered on the main thread, never shed. */
export type PlainHandler = (res: HttpResponse, req: HttpRequest, ctx: ResponseContext) => void;

interface Route {
  readonly methods: Readonly<Record<string, PlainHandler | RouteKind>>;
  /** Needs STATUS_TOKEN when one is configured. */
  readonly statusAuth?: boolean;
}

/** A route and its path, one string for every request (the counters key their cells by it: its hash is kept). */
interface Mounted extends Route {
  readonly path: string;
}

/** GET routes mounted beside the proxied ones (the monitoring routes), behind STATUS_TOKEN when one is set. */
export interface ExtraRoutes {
  readonly [path: string]: PlainHandler;
}

export function mountRoutes(app: TemplatedApp, s: ServiceState, extra: ExtraRoutes): void {
  const keys = new KeyRing(s.config.VALID_API_KEYS);
  const cors = new Set(s.config.CORS_ORIGINS);
  const json = (body: unknown): PlainHandler => (res, _req, ctx) => send(res, ctx, 200, 'application/json', JSON.stringify(body));

  const defs: Array<[string, Route]> = [
    ['/v1/chat/completions', { methods: { POST: 'chat' } }],
    ['/v1/completions', { methods: { POST: 'completions' } }],
    ['/v1/embeddings', { methods: { POST: 'embeddings' } }],
    ['/v1/images/generations', { methods: { POST: 'images' } }],
    ['/v1/audio/speech', { methods: { POST: 'speech' } }],
    ['/v1/audio/transcriptions', { methods: { POST: 'transcriptions' } }],
    ['/v1/audio/translations', { methods: { POST: 'translations' } }],
    ['/v1/responses', { methods: { POST: 'responses' } }],
    ['/v1/models', { methods: { GET: 'models' } }],
    ['/health', { methods: { GET: json({ status: 'ok' }) } }],
    ['/ready', { methods: { GET: (res, _req, ctx) => ready(s, res, ctx) } }],
  ];
  for (const [path, handler] of Object.entries(extra)) defs.push([path, { methods: { GET: handler }, statusAuth: true }]);
  const routes = new Map<string, Mounted>(defs.map(([path, r]) => [path, { ...r, path }]));

  const handle = (res: HttpResponse, req: HttpRequest): void => {
    const t0 = performance.now();
    const path = req.getUrl();
    const method = req.getCaseSensitiveMethod();
    const origin = req.getHeader(REQ.origin);
    const ctx: ResponseContext = { reqId: requestId(req.getHeader(REQ.requestId)), corsOrigin: origin && cors.has(origin) ? origin : null, head: method === 'HEAD' };
    const route = routes.get(path);
    const refuse = (code: ErrorCode, status: number, o: ErrorOptions = {}): void => refused(s, res, ctx, route ? route.path : 'unknown', t0, code, status, o);
    if (!route) return refuse('not_found', 404, { message: `Unknown route ${method} ${truncate(path)}.` });
    const target = route.methods[method];
    if (target === undefined) {
      const allow = Object.keys(route.methods).join(', ');
      if (method === 'OPTIONS' && ctx.corsOrigin !== null) return preflight(res, ctx, allow);
      return refuse('method_not_allowed', 405, { headers: { allow } });
    }
    const tokenRoute = route.statusAuth === true && s.config.STATUS_TOKEN !== undefined;
    if (tokenRoute || typeof target !== 'function') {
      // uWS's getHeader sees only the first of repeated lines: differing repeats are refused, not guessed at
      const conflict = conflictingHeader(req);
      if (conflict === 'authorization') {
        const code = tokenRoute ? 'unauthorized_status' : 'invalid_api_key';
        return refuse(code, 401, { message: 'Conflicting Authorization headers.', closeConnection: hasBody(req) });
      }
      if (conflict === 'content-length') return refuse('invalid_request', 400, { message: 'Conflicting content-length headers.', closeConnection: true });
    }
    if (tokenRoute) {
      const presented = bearerToken(req.getHeader(REQ.authorization)) ?? req.getQuery('token') ?? '';
      if (!tokenMatches(presented, s.config.STATUS_TOKEN)) return refuse('unauthorized_status', 401);
    }
    if (typeof target === 'function') return target(res, req, ctx);

    const auth = keys.check(req.getHeader(REQ.authorization));
    if (!auth.ok) return refuse('invalid_api_key', 401, { closeConnection: hasBody(req) });
    const cl = req.getHeader(REQ.contentLength);
    const contentLength = cl === '' ? null : /^\d{1,15}$/.test(cl) ? Number(cl) : NaN;
    if (Number.isNaN(contentLength)) return refuse('invalid_request', 400, { message: 'Invalid content-length.', closeConnection: true });
    const traceparent = req.getHeader(REQ.traceparent);
    handleProxy(s, res, {
      reqId: ctx.reqId, kind: target, route: route.path, keyId: auth.keyId, contentLength,
      hasBody: hasBody(req, cl), corsOrigin: ctx.corsOrigin,
      // an upload goes upstream with its own content-type (its boundary); the JSON routes need none
      contentType: target === 'transcriptions' || target === 'translations' ? req.getHeader(REQ.contentType) : null,
      traceparent: traceparent !== '' && TRACEPARENT.test(traceparent) ? traceparent : null,
      client: s.config.ENABLE_DETAILED_LOGGING ? clientOf(res, req) : null,
    });
  };

  // uWS aborts the whole process when a handler throws before answering: a fault here costs one request, not all
  app.any('/*', (res, req) => {
    try {
      handle(res, req);
    } catch (e) {
      internalError(s, res, e);
    }
  });
}

/** Refused before a handler: answered, counted and logged like every request (CONTRACT §7). */
function refused(s: ServiceState, res: HttpResponse, ctx: ResponseContext, route: string, t0: number, code: ErrorCode, status: number, o: ErrorOptions): void {
  sendError(res, ctx, code, status, o);
  recordRequest(s.counters, s.log, {
    route, status, outcome: outcomeOf(status, code, false), code, durationMs: performance.now() - t0, ttfbMs: null,
    stream: false, events: 0, bytes: 0, malformed: 0, mirror: null, model: null, usage: null, reqId: ctx.reqId, keyId: null, attempts: 0,
  });
}

function internalError(s: ServiceState, res: HttpResponse, e: unknown): void {
  s.log.error({ err: e instanceof Error ? e.message : String(e) }, 'route handler threw; answered 500');
  try {
    sendError(res, { reqId: randomUUID(), corsOrigin: null }, 'internal_error', 500, { closeConnection: true });
  } catch {
    // already answered (or aborted): nothing more to send
  }
}

function ready(s: ServiceState, res: HttpResponse, ctx: ResponseContext): void {
  const reasons: string[] = [];
  if (s.admission.draining) reasons.push('draining');
  if (s.admission.memoryPressure) reasons.push('memory_limit');
  if (s.health.views().every((m) => m.circuit === 'open')) reasons.push('all_upstreams_open');
  if (s.pool.stats().serving === 0) reasons.push('no_worker');
  if (reasons.length === 0) return send(res, ctx, 200, 'application/json', JSON.stringify({ status: 'ready' }));
  send(res, ctx, 503, 'application/json', JSON.stringify({ status: 'not_ready', reasons }), { 'retry-after': '1' });
}

function preflight(res: HttpResponse, ctx: ResponseContext, allow: string): void {
  send(res, ctx, 204, 'text/plain', '', {
    'access-control-allow-methods': allow + ', OPTIONS',
    'access-control-allow-headers': 'authorization, content-type, x-request-id, openai-organization, openai-project, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout',
    'access-control-max-age': '600',
  });
}

/** The first header sent more than once with different values, among those whose first value is acted on. */
function conflictingHeader(req: HttpRequest): 'authorization' | 'content-length' | null {
  let auth: string | null = null;
  let length: string | null = null;
  let conflict: 'authorization' | 'content-length' | null = null;
  req.forEach((name, value) => {
    if (name === 'authorization') {
      if (auth === null) auth = value;
      else if (value !== auth) conflict ??= 'authorization';
    } else if (name === 'content-length') {
      if (length === null) length = value;
      else if (value !== length) conflict ??= 'content-length';
    }
  });
  return conflict;
}

/** A content-length (pass it when it was read already) or a transfer-encoding. */
function hasBody(req: HttpRequest, contentLength = req.getHeader(REQ.contentLength)): boolean {
  return contentLength !== '' || req.getHeader(REQ.transferEncoding) !== '';
}

/** A client's x-request-id when it is safe to echo and log (printable, no spaces, ≤ 128), else a new UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;
function requestId(given: string): string {
  return REQUEST_ID.test(given) ? given : randomUUID();
}

/** W3C trace context: version-traceid-parentid-flags, lowercase hex (an all-zero id is invalid). */
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The peer address and user agent, for ENABLE_DETAILED_LOGGING's log fields. */
function clientOf(res: HttpResponse, req: HttpRequest): { ip: string; userAgent: string } {
  return { ip: Buffer.from(res.getRemoteAddressAsText()).toString('latin1'), userAgent: truncate(req.getHeader(REQ.userAgent)) };
}

function truncate(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 100 ? clean.slice(0, 100) + '…' : clean;
}
