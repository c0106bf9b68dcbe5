// Upstream bodies that are not plain SSE: content-encodings (decoded, never passed on) and OpenAI error bodies.
import { createGunzip, createInflate, createBrotliDecompress, gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import type { Transform } from 'node:stream';

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

export function decodeSync(encoding: string, body: Buffer): Buffer {
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(body);
  if (encoding === 'deflate') return inflateSync(body);
  if (encoding === 'br') return brotliDecompressSync(body);
  throw new Error(`unsupported content-encoding ${encoding}`);
}
