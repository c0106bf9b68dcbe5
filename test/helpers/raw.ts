// Raw-socket HTTP for tests that need what fetch hides: exact bytes, slow writes, paused reads, early closes.
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { sseData } from '../../src/ops/sse.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

/** Parses one HTTP/1.1 response (content-length or chunked) from raw text. */
export function parseResponse(raw: string): RawResponse {
  const split = raw.indexOf('\r\n\r\n');
  const head = split >= 0 ? raw.slice(0, split) : raw;
  const rest = split >= 0 ? raw.slice(split + 4) : '';
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = rest;
  if (headers['transfer-encoding'] === 'chunked') {
    body = '';
    let p = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', p);
      if (eol < 0) break;
      const size = parseInt(rest.slice(p, eol), 16);
      if (!Number.isFinite(size) || size === 0) break;
      body += rest.slice(eol + 2, eol + 2 + size);
      p = eol + 2 + size + 2;
    }
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, raw };
}

/** Sends `request` and collects everything until the server closes (send `Connection: close`). */
export function rawHttp(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`));
    }, timeoutMs);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks).toString('utf8')));
    });
    s.write(request);
  });
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

export function post(path: string, body: string, key: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`;
}

/** The data of every event of a whole SSE body, read by the service's own SSE reader (comment lines skipped). */
export async function sseEvents(text: string): Promise<string[]> {
  const out: string[] = [];
  for await (const data of sseData(Readable.from([Buffer.from(text)]))) out.push(data);
  return out;
}
