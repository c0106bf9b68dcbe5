// Upstream bodies that are not plain SSE: content-encodings (decoded, never passed on) and error bodies (OpenAI's, and the other shapes OpenAI-compatible servers send).
import { createGunzip, createInflate, createBrotliDecompress, gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { allowedResponseHeaders } from './headers.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, 1000) : null);

/**
 * What an upstream error body says, as OpenAI's `error` object: OpenAI's own shape (`{"error":{…}}`) as it is,
 * vLLM's and SGLang's (`{"object":"error","message":…}`) and TGI's (`{"error":"…","error_type":…}`) converted.
 * null: not an error body a server wrote on purpose (an HTML page, a proxy's text), so not one model failing.
 */
export function upstreamError(body: string): { readonly error: Obj; readonly converted: boolean } | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObj(v)) return null;
  if (isObj(v.error)) return { error: v.error, converted: false };
  const message = v.object === 'error' ? text(v.message) : text(v.error);
  if (message === null) return null;
  const type = text(v.type) ?? text(v.error_type) ?? 'upstream_error';
  const code = typeof v.code === 'number' || typeof v.code === 'string' ? v.code : null;
  return { error: { message, type, param: text(v.param), code }, converted: true };
}

export function isOpenAIError(body: string): boolean {
  return upstreamError(body) !== null;
}

export function makeDecoder(encoding: string): Transform | null {
  if (encoding === 'gzip' || encoding === 'x-gzip') return createGunzip();
  if (encoding === 'deflate') return createInflate();
  if (encoding === 'br') return createBrotliDecompress();
  return null;
}

/** Decodes a whole body; over `maxBytes` decoded (a compression bomb too) it throws a RangeError. */
export function decodeSync(encoding: string, body: Buffer, maxBytes: number): Buffer {
  const limit = { maxOutputLength: maxBytes };
  if (encoding === 'identity' || encoding === '') {
    if (body.length > maxBytes) throw new RangeError('body over the limit');
    return body;
  }
  if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(body, limit);
  if (encoding === 'deflate') return inflateSync(body, limit);
  if (encoding === 'br') return brotliDecompressSync(body, limit);
  throw new Error(`unsupported content-encoding ${encoding}`);
}

/**
 * An upstream error response as the client's answer: allow-listed headers; an OpenAI error body as it came,
 * another server's error shape converted to OpenAI's (its message kept), anything else a generic one.
 * `unshaped`: the upstream's own text, trimmed, when it was none of those shapes (an HTML page, plain text) and
 * not blank, which the client does not get and only the log line may take (LOG_RESPONSE_CONTENT); else null.
 */
export function errorReply(status: number, headers: IncomingHttpHeaders, body: Buffer): { headers: Record<string, string>; body: string; unshaped: string | null } {
  const out = allowedResponseHeaders(headers);
  out['content-type'] = 'application/json';
  const raw = body.toString('utf8');
  const known = upstreamError(raw);
  const reply = known === null
    ? JSON.stringify({ error: { message: `Upstream error ${status}.`, type: 'upstream_error', param: null, code: `upstream_${status}` } })
    : known.converted ? JSON.stringify({ error: known.error }) : raw;
  const text = known === null ? raw.trim() : '';
  return { headers: out, body: reply, unshaped: text !== '' ? text : null };
}
