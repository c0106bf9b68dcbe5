// Complete (non-stream) responses over uWS: JSON bodies, OpenAI-shaped errors, common headers, Retry-After.
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from './uws.js';
import { errorBody, type ErrorCode } from '../errors.js';
import { RES } from './names.js';

export interface ResponseContext {
  readonly reqId: string;
  /** The Origin to echo (already checked against CORS_ORIGINS), or null. */
  readonly corsOrigin: string | null;
  /** A HEAD request: headers only. A body would be read as the next response by a keep-alive client. */
  readonly head?: boolean;
}

const statusLines = new Map<number, Buffer>();
/** "200 OK" and the like, as bytes made once per status. */
export function statusLine(status: number): Buffer {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = Buffer.from(`${status} ${STATUS_CODES[status] ?? 'Unknown'}`, 'latin1');
    statusLines.set(status, line);
  }
  return line;
}

export function writeCommonHeaders(res: HttpResponse, ctx: ResponseContext): void {
  res.writeHeader(RES.requestId, ctx.reqId);
  if (ctx.corsOrigin !== null) {
    res.writeHeader(RES.accessControlAllowOrigin, ctx.corsOrigin);
    res.writeHeader(RES.accessControlExposeHeaders, RES.exposed);
    res.writeHeader(RES.vary, RES.origin);
  }
}

/** Sends a complete response. Call only while the response is still open (not aborted). */
export function send(
  res: HttpResponse,
  ctx: ResponseContext,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  headers?: Readonly<Record<string, string>>,
  closeConnection = false,
): void {
  res.cork(() => {
    res.writeStatus(statusLine(status));
    res.writeHeader(RES.contentType, contentType);
    writeCommonHeaders(res, ctx);
    if (headers) for (const k in headers) if (k !== 'content-type') res.writeHeader(k, headers[k]!);
    // (endWithoutBody with arguments leaves this uWS build's response open, which aborts the process)
    res.end(ctx.head ? '' : body, closeConnection);
  });
}

/** Seconds and jittered milliseconds for shed clients, so retries do not come back in one wave (≤ 5 s). */
export function retryAfterHeaders(baseSeconds = 1): Record<string, string> {
  const base = Math.min(5, Math.max(1, baseSeconds));
  const ms = Math.round(base * 1000 * (0.5 + Math.random()));
  return { 'retry-after': String(Math.min(5, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) };
}

export interface ErrorOptions {
  readonly message?: string;
  readonly param?: string | null;
  /** Add Retry-After / retry-after-ms (true: the default 1 s base; a number: that base in seconds). */
  readonly retryAfter?: boolean | number;
  readonly closeConnection?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
}

export function sendError(res: HttpResponse, ctx: ResponseContext, code: ErrorCode, status: number, o: ErrorOptions = {}): void {
  const extra: Record<string, string> = { ...o.headers };
  if (o.retryAfter) Object.assign(extra, retryAfterHeaders(typeof o.retryAfter === 'number' ? o.retryAfter : 1));
  const body = JSON.stringify(errorBody(code, o.message, o.param ?? null));
  send(res, ctx, status, 'application/json', body, extra, o.closeConnection);
}
