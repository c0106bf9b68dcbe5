// The JSON POST routes (chat, completions, embeddings): model behaviours that act before the stream, then the answer.
import zlib from 'node:zlib';
import { embeddingsBody, errorBody, statusError, type ErrorAnswer } from './bodies.js';
import { chatBody, chatEvents, completionEvents, makePlan, textBody, type Json, type Meta } from './content.js';
import { garbageBytes, mulberry32 } from './prng.js';
import { parseModel, type SimSpec } from './spec.js';
import { playStream, UPSTREAM_EXPLODED } from './stream.js';
import { Writer, type Exchange, type WriterHooks } from './writer.js';

export type PostRoute = 'chat' | 'completion' | 'embeddings';

export interface PostContext {
  x: Exchange;
  route: PostRoute;
  body: Buffer;
  requestId: number;
  hooks: WriterHooks;
  /** Counts this request for `flaky` and returns how many requests that exact model name has had. */
  countModel(model: string): number;
}

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream';
const ERROR_STATUS: Readonly<Record<string, number>> = {
  error500: 500, error429: 429, error400: 400, error401: 401, error403: 403, error503: 503,
};

/** Sends a complete non-stream body (content-length known), optionally gzipped and/or split. */
export async function sendBody(
  x: Exchange, hooks: WriterHooks, status: number, body: string | Buffer,
  o: { type?: string; headers?: Record<string, string>; gzip?: boolean; spec?: SimSpec } = {},
): Promise<void> {
  let buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers: Record<string, string> = { 'content-type': o.type ?? JSON_TYPE, ...o.headers };
  if (o.gzip) {
    buf = zlib.gzipSync(buf);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(buf.length);
  x.res.writeHead(status, headers);
  const split = o.spec?.behaviour === 'split' ? mulberry32(o.spec.opts.seed) : null;
  const w = new Writer(x, hooks, { split });
  await w.bytes(buf);
  await w.end();
}

export function sendError(x: Exchange, hooks: WriterHooks, e: ErrorAnswer): Promise<void> {
  return sendBody(x, hooks, e.status, e.body, { headers: e.headers });
}

function parseJson(buf: Buffer): Json | undefined {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What every POST route does first: the `delay` wait, then the behaviours that answer before any content
 * (error statuses, `flaky` while it fails, `redirect`). Returns true when it answered.
 */
export async function answeredEarly(x: Exchange, hooks: WriterHooks, spec: SimSpec, count: number): Promise<boolean> {
  const { behaviour, opts } = spec;
  await x.pause(opts.delay);
  const status = ERROR_STATUS[behaviour];
  if (status !== undefined) await sendError(x, hooks, statusError(status));
  else if (behaviour === 'flaky' && count <= opts.fail) await sendError(x, hooks, statusError(opts.status));
  else if (behaviour === 'redirect') {
    await sendBody(x, hooks, 302, errorBody('Moved.', 'server_error', 'redirect'), { headers: { location: 'http://127.0.0.1:1/elsewhere' } });
  } else return false;
  return true;
}

/** Answers one POST. Throws ClientGone if the client leaves mid-way. */
export async function handlePost(ctx: PostContext): Promise<void> {
  const { x, hooks } = ctx;
  const body = parseJson(ctx.body);
  if (!body) {
    const msg = 'We could not parse the JSON body of your request.';
    return sendBody(x, hooks, 400, errorBody(msg, 'invalid_request_error', 'invalid_json'));
  }
  const spec = parseModel(body['model']);
  x.model = spec.model;
  const { behaviour, opts } = spec;
  if (await answeredEarly(x, hooks, spec, ctx.countModel(spec.model))) return;
  const stream = body['stream'] === true && behaviour !== 'notsse';
  if (behaviour === 'garbage') {
    const bytes = garbageBytes(mulberry32(opts.seed), opts.size ?? 4096);
    return sendBody(x, hooks, 200, bytes, { type: stream ? SSE_TYPE : JSON_TYPE });
  }
  if (behaviour === 'reset' && !stream) {
    new Writer(x, hooks).reset();
    return;
  }
  if (behaviour === 'stall' && !stream) return x.closed;
  const gzip = behaviour === 'gzip';

  if (ctx.route === 'embeddings') {
    const answer = embeddingsBody(spec.model, body['input']);
    if (answer === undefined) {
      return sendBody(x, hooks, 400, errorBody("'input' must be a string or an array.", 'invalid_request_error', 'invalid_value', 'input'));
    }
    return sendBody(x, hooks, 200, answer, { gzip, spec });
  }

  const kind = ctx.route === 'chat' ? 'chat' : 'completion';
  const plan = makePlan(spec, body, kind);
  const meta: Meta = {
    id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-sim${ctx.requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: spec.model,
  };
  if (!stream) {
    const answer = JSON.stringify(kind === 'chat' ? chatBody(meta, plan) : textBody(meta, plan));
    if (behaviour === 'malformed') return sendBody(x, hooks, 200, '{"not valid json', { spec });
    if (behaviour === 'errorevent') return sendBody(x, hooks, 500, UPSTREAM_EXPLODED);
    if (behaviour === 'close') return sendTruncated(x, hooks, answer);
    return sendBody(x, hooks, 200, answer, { gzip, spec });
  }
  const so = body['stream_options'];
  const includeUsage = !!so && typeof so === 'object' && (so as Json)['include_usage'] === true;
  const events = kind === 'chat' ? chatEvents(meta, plan, includeUsage) : completionEvents(meta, plan, includeUsage);
  const headers: Record<string, string> = { 'content-type': SSE_TYPE, 'cache-control': 'no-cache' };
  if (gzip) headers['content-encoding'] = 'gzip';
  x.res.writeHead(200, headers);
  const w = new Writer(x, hooks, {
    crlf: behaviour === 'crlf',
    split: behaviour === 'split' ? mulberry32(opts.seed) : null,
    gzip,
  });
  await playStream(w, x, spec, events);
}

/** `close` without a stream: half the JSON body, then a clean chunked end. */
async function sendTruncated(x: Exchange, hooks: WriterHooks, answer: string): Promise<void> {
  x.res.writeHead(200, { 'content-type': JSON_TYPE });
  const w = new Writer(x, hooks);
  await w.bytes(answer.slice(0, Math.floor(answer.length / 2)));
  await w.end();
}
