// Upstream bodies that are not plain SSE: content-encodings (decoded, never passed on) and OpenAI error bodies.
import { createGunzip, createInflate, createBrotliDecompress, gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { allowedResponseHeaders } from './headers.js';

export function isOpenAIError(body: string): boolean {
  try {
    const v = JSON.parse(body) as { error?: unknown };
    return typeof v === 'object' && v !== null && typeof v.error === 'object' && v.error !== null;
  } catch {
    return false;
  }
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

/** An upstream error response as the client's answer: allow-listed headers; a non-OpenAI body becomes one. */
export function errorReply(status: number, headers: IncomingHttpHeaders, body: Buffer): { headers: Record<string, string>; body: string } {
  const out = allowedResponseHeaders(headers);
  out['content-type'] = 'application/json';
  let text = body.toString('utf8');
  if (!isOpenAIError(text)) {
    text = JSON.stringify({ error: { message: `Upstream error ${status}.`, type: 'upstream_error', param: null, code: `upstream_${status}` } });
  }
  return { headers: out, body: text };
}
