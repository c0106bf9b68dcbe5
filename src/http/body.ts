// The request body on uWS: bytes gathered in a buffer that grows as they arrive, under MAX_BODY_SIZE; handed on at its exact size.
import type { HttpResponse } from './uws.js';

export type BodyResult = { ok: true; body: Uint8Array } | { ok: false; code: 'body_too_large' };

/**
 * Reads the whole body, then calls `done` once (unless the response is aborted first). The announced
 * content-length alone reserves no more than 64 KiB; the deadline (BODY_TIMEOUT) is the caller's.
 */
export function readBody(res: HttpResponse, contentLength: number | null, max: number, done: (r: BodyResult) => void): void {
  let buf = new Uint8Array(Math.min(contentLength ?? 1024, 64 * 1024, max));
  let received = 0;
  let over = false;
  res.onData((chunk, isLast) => {
    if (over) return;
    const n = chunk.byteLength;
    if (received + n > max) {
      over = true;
      return done({ ok: false, code: 'body_too_large' });
    }
    if (received + n > buf.length) {
      const bigger = new Uint8Array(Math.min(max, Math.max(buf.length * 2, received + n)));
      bigger.set(buf.subarray(0, received));
      buf = bigger;
    }
    buf.set(new Uint8Array(chunk), received);
    received += n;
    if (!isLast) return;
    // exactly the body: a view of a larger buffer would carry all of it to a worker thread
    done({ ok: true, body: received === buf.length ? buf : buf.slice(0, received) });
  });
}
