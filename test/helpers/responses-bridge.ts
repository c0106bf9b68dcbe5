// Test helper: a tiny node:http `/v1/responses` server that runs workers/responses over an upstream's chat
// completions (the simulator), framing upstream SSE with SseFramer and inspectEvent as the workers do.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspectData } from '../../workers/inspect.js';
import { SseFramer } from '../../workers/sse-framer.js';
import { chatToResponse } from '../../workers/responses/reply.js';
import { translateRequest } from '../../workers/responses/request.js';
import { newResponseContext } from '../../workers/responses/shape.js';
import { ResponsesStream } from '../../workers/responses/stream.js';

export interface Bridge {
  /** e.g. http://127.0.0.1:PORT/v1 (what an SDK takes as baseURL). */
  readonly baseURL: string;
  /** Every Responses request body received, parsed. */
  readonly received: Record<string, unknown>[];
  /** Every chat body sent upstream. */
  readonly sent: Record<string, unknown>[];
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorJson(message: string, type: string, code: string, param: string | null = null): unknown {
  return { error: { message, type, param, code } };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function handle(req: IncomingMessage, res: ServerResponse, upstream: string, b: Bridge): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/v1/responses') return sendJson(res, 404, errorJson('Not found.', 'invalid_request_error', 'not_found'));
  let value: unknown;
  try {
    value = JSON.parse((await readBody(req)).toString('utf8'));
  } catch {
    return sendJson(res, 400, errorJson('Invalid JSON.', 'invalid_request_error', 'invalid_json'));
  }
  b.received.push(value as Record<string, unknown>);
  const t = translateRequest(value);
  if (!t.ok) return sendJson(res, 400, errorJson(t.message, 'invalid_request_error', t.code, t.param));
  b.sent.push(t.chat);
  const up = await fetch(`${upstream}/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(t.chat),
  });
  if (up.status !== 200) return sendJson(res, up.status, await up.json());
  const ctx = newResponseContext(t.model, t.echo);
  if (!t.stream) {
    const r = chatToResponse(await up.json(), ctx);
    return r.ok ? sendJson(res, 200, r.response) : sendJson(res, 502, errorJson(r.message, 'server_error', r.code));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const s = new ResponsesStream(ctx);
  res.write(s.start());
  const framer = new SseFramer(1 << 20);
  let end: 'done' | 'error' | null = null;
  const feed = (events: ReturnType<SseFramer['push']>): void => {
    for (const ev of events) {
      if (end !== null) return;
      const got = inspectData(ev.data);
      if (got.kind === 'done') end = 'done';
      else if (got.kind === 'chunk' && got.error !== null) {
        end = 'error';
        res.write(s.fail('upstream_error_event', 'The upstream reported an error mid-stream.'));
      } else if (got.kind === 'chunk') res.write(s.onChunk(got.value));
    }
  };
  if (up.body !== null) for await (const chunk of up.body) feed(framer.push(chunk));
  const last = framer.flush();
  if (last) feed([last]);
  if (end === null && s.finishReason === null) res.write(s.fail('upstream_truncated', 'The upstream closed the stream before it finished.'));
  else res.write(s.finish());
  res.end();
}

/** Starts a bridge on 127.0.0.1:0 in front of `upstream` (an OpenAI base URL such as the simulator's). */
export async function startResponsesBridge(upstream: string): Promise<Bridge> {
  const server = http.createServer((req, res) => {
    handle(req, res, upstream, bridge).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorJson(String(e), 'server_error', 'bridge_error'));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const bridge: Bridge = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    received: [],
    sent: [],
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  return bridge;
}
