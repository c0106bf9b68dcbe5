// Hostile-client tools for the hardening tests: raw requests that record what came back and when the server hung up.
import { connect, type Socket } from 'node:net';
import { parseResponse, type RawResponse } from './raw.js';

/**
 * uWS closes a connection that has not completed its request after a fixed idle timeout of 10 s
 * (FACTS.md; not configurable), checked on a coarse timer tick: measured closes came 11–12 s after the
 * last activity. A connection still open after this bound counts as held indefinitely.
 */
export const UWS_IDLE_BOUND_MS = 20_000;

export interface HangUp {
  /** What the server sent before closing (may be empty). */
  readonly raw: string;
  /** The parsed first response, or null when nothing came back. */
  readonly response: RawResponse | null;
  /** Milliseconds from the first byte written to the close. */
  readonly closedAfterMs: number;
  /** True when the server had not closed by `limitMs` (the socket was then destroyed by us). */
  readonly heldOpen: boolean;
}

export interface SendOptions {
  /** Write the request one byte at a time with this gap (a slow client), instead of all at once. */
  readonly byteGapMs?: number;
  /** Give up (and destroy the socket) after this long. */
  readonly limitMs?: number;
  /** Called after each paced byte with how many bytes went out so far. */
  readonly onProgress?: (sent: number) => void;
}

/** Sends raw request bytes and waits for the server to close the connection (or for `limitMs`). */
export function sendAndWait(port: number, request: string | Buffer, o: SendOptions = {}): Promise<HangUp> {
  const limitMs = o.limitMs ?? UWS_IDLE_BOUND_MS;
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect(port, '127.0.0.1');
    const t0 = performance.now();
    let pacer: NodeJS.Timeout | null = null;
    let heldOpen = false;
    const limit = setTimeout(() => {
      heldOpen = true;
      s.destroy();
    }, limitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(limit);
      if (pacer) clearInterval(pacer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ raw, response: raw.length > 0 ? parseResponse(raw) : null, closedAfterMs: performance.now() - t0, heldOpen });
    });
    if (o.byteGapMs === undefined) {
      s.write(bytes);
      return;
    }
    let i = 0;
    pacer = setInterval(() => {
      if (s.destroyed || i >= bytes.length) return;
      s.write(bytes.subarray(i, i + 1));
      i++;
      o.onProgress?.(i);
    }, o.byteGapMs);
  });
}

/** Opens `n` connections (in batches, so the listen backlog is not the thing under test) that send `prefix` and then nothing. */
export async function idleSockets(port: number, n: number, prefix: (i: number) => string = () => ''): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => {
            const p = prefix(i + j);
            if (p) s.write(p);
            resolve(s);
          });
          s.once('error', reject);
        }),
      ),
    );
    for (const s of opened) {
      s.on('error', () => undefined);
      sockets.push(s);
    }
  }
  return sockets;
}

/** Resolves when the socket closes. */
export function closed(s: Socket): Promise<void> {
  return s.destroyed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

/** A POST head (no body) with the given extra header lines. */
export function head(path: string, lines: readonly string[], method = 'POST'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: t\r\n${lines.map((l) => l + '\r\n').join('')}\r\n`;
}

/** Header names of a raw response, lowercase. */
export function headerNames(r: RawResponse | null): string[] {
  return r === null ? [] : Object.keys(r.headers);
}
