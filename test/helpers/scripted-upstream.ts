// A second upstream shape beside the simulator: a small node:http OpenAI-compatible server whose every answer the
// test scripts per request (status, headers, body pieces with waits, how it ends), framed unlike the simulator
// (CRLF, `data:` without a space, events split across writes, no trailing blank line, `: ping` comments, vLLM-style
// or plain-text/HTML error bodies). It records every request and every client abort, with timestamps, as events.
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request as the upstream received it. */
export interface UpstreamRequest {
  /** 1, 2, … in arrival order. */
  readonly id: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** `model` of a JSON body, or null. */
  readonly model: string | null;
  readonly stream: boolean;
  /** performance.now() when the whole request body had arrived. */
  readonly at: number;
}

/** A piece of a scripted body: bytes to write, a pause, or a wait for something the test controls. */
export type Piece = string | Buffer | { readonly wait: number } | { readonly until: Promise<unknown> };

export interface Reply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Before the status line: a pause (ms) or a promise the test resolves. */
  readonly headersAfter?: number | Promise<unknown>;
  readonly body?: readonly Piece[];
  /**
   * How the response ends after its body: `end` (default), `hang` (stays open until the client leaves or
   * `release()` is called), `reset` (the socket is destroyed once its last body write reached the kernel).
   * `reset-before-headers` destroys the socket before any byte of the response.
   */
  readonly end?: 'end' | 'hang' | 'reset' | 'reset-before-headers';
}

export type Script = (req: UpstreamRequest) => Reply | Promise<Reply>;

export interface AbortEvent {
  readonly id: number;
  readonly model: string | null;
  readonly at: number;
  /** Body bytes written before the client left. */
  readonly written: number;
}
export interface WriteEvent {
  readonly id: number;
  readonly model: string | null;
  readonly at: number;
  /** Body bytes written so far. */
  readonly written: number;
}

/**
 * Events: 'request' (UpstreamRequest, once its body is in), 'abort' (AbortEvent: the client closed before the
 * response ended), 'finish' (WriteEvent), 'write-blocked' (WriteEvent: a write returned false), 'drain'
 * (WriteEvent: that write's 'drain' came), 'waiting' (WriteEvent: the body reached an `until` piece, with the
 * bytes written so far).
 */
export class ScriptedUpstream extends EventEmitter {
  /** Base URL for DEEPINFRA_MIRRORS, e.g. http://127.0.0.1:PORT/v1. */
  url = '';
  port = 0;
  readonly requests: UpstreamRequest[] = [];
  /** The answer to each request; tests replace it at will. */
  script: Script = () => ({ status: 404, body: [openaiError('no script for this request', 'not_found')] });
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #hanging = new Set<() => void>();
  #seq = 0;

  constructor() {
    super();
    this.#server = http.createServer((req, res) => void this.#onRequest(req, res));
    this.#server.keepAliveTimeout = 60_000;
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  /** Requests seen for `model`. */
  count(model: string): number {
    return this.requests.filter((r) => r.model === model).length;
  }

  /** Ends every response that is hanging (end: 'hang'). */
  release(): void {
    for (const f of [...this.#hanging]) f();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}/v1`;
  }

  close(): Promise<void> {
    this.release();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
      for (const s of this.#sockets) s.destroy();
    });
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = ++this.#seq;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let model: string | null = null;
    let stream = false;
    try {
      const v = JSON.parse(body.toString('utf8')) as { model?: unknown; stream?: unknown };
      if (typeof v.model === 'string') model = v.model;
      stream = v.stream === true;
    } catch {
      // not JSON (a GET): no model
    }
    const record: UpstreamRequest = { id, method: req.method ?? '', path: (req.url ?? '/').split('?')[0]!, headers: req.headers, body, model, stream, at: performance.now() };
    this.requests.push(record);

    let written = 0;
    let gone = false;
    let ended = false;
    const closed = new Promise<void>((resolve) => {
      res.once('close', () => {
        gone = true;
        resolve();
        if (!ended) this.emit('abort', { id, model, at: performance.now(), written } satisfies AbortEvent);
      });
    });
    // a FIN while the response is open means the client left (the http server keeps sockets half-open)
    const onFin = (): void => {
      if (!res.writableFinished) res.destroy();
    };
    req.socket.once('end', onFin);
    res.once('close', () => req.socket.off('end', onFin));
    this.emit('request', record);

    const wait = async (w: number | Promise<unknown>): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      const p = typeof w === 'number' ? new Promise<void>((r) => (timer = setTimeout(r, w))) : w.then(() => undefined);
      await Promise.race([p, closed]);
      clearTimeout(timer);
    };

    const reply = await this.script(record);
    if (reply.headersAfter !== undefined) await wait(reply.headersAfter);
    if (gone) return;
    if (reply.end === 'reset-before-headers') {
      ended = true;
      res.socket?.destroy();
      return;
    }
    res.writeHead(reply.status ?? 200, { ...reply.headers });
    // the latest write handed to the kernel (a reset waits for it: a destroyed socket drops what it had not sent)
    let lastWrite: Promise<void> = Promise.resolve();
    for (const piece of reply.body ?? []) {
      if (gone) return;
      if (typeof piece === 'string' || Buffer.isBuffer(piece)) {
        written += Buffer.byteLength(piece);
        let sent = (): void => undefined;
        lastWrite = new Promise<void>((r) => (sent = r));
        if (!res.write(piece, () => sent())) {
          this.emit('write-blocked', { id, model, at: performance.now(), written } satisfies WriteEvent);
          await Promise.race([new Promise((r) => res.once('drain', r)), closed]);
          if (gone) return;
          this.emit('drain', { id, model, at: performance.now(), written } satisfies WriteEvent);
        }
      } else if ('wait' in piece) {
        await wait(piece.wait);
      } else {
        this.emit('waiting', { id, model, at: performance.now(), written } satisfies WriteEvent);
        await wait(piece.until);
      }
    }
    if (gone) return;
    if (reply.end === 'hang') {
      await wait(new Promise<void>((resolve) => {
        const f = (): void => {
          this.#hanging.delete(f);
          resolve();
        };
        this.#hanging.add(f);
      }));
      if (gone) return;
    }
    ended = true;
    if (reply.end === 'reset') {
      await Promise.race([lastWrite, closed]);
      res.socket?.destroy();
      return;
    }
    res.end(() => this.emit('finish', { id, model, at: performance.now(), written } satisfies WriteEvent));
  }
}

/** Starts a scripted upstream on 127.0.0.1, port 0, closed at the test's end. */
export async function startScriptedUpstream(t: { teardown(fn: () => unknown): void }, script?: Script): Promise<ScriptedUpstream> {
  const u = new ScriptedUpstream();
  if (script) u.script = script;
  await u.listen();
  t.teardown(() => u.close());
  return u;
}

// ---- bodies ---------------------------------------------------------------------------------------------

/** An OpenAI error body (what the proxy must treat as "one model failing", not the mirror). */
export function openaiError(message: string, code: string | null = 'internal_error', type = 'server_error'): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

/** vLLM's error body: no `error` object. */
export function vllmError(message: string, code = 500): string {
  return JSON.stringify({ object: 'error', message, type: 'InternalServerError', param: null, code });
}

export const HTML_500 = '<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body><center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center></body>\r\n</html>\r\n';

export function chatChunk(model: string, content: string | null, finish: string | null = null, id = 'chatcmpl-scripted'): Record<string, unknown> {
  return {
    id, object: 'chat.completion.chunk', created: 1700000000, model, system_fingerprint: 'fp_scripted',
    choices: [{ index: 0, delta: content === null ? {} : { content }, logprobs: null, finish_reason: finish }],
  };
}

export function chatCompletion(model: string, content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-scripted', object: 'chat.completion', created: 1700000000, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

export interface Framing {
  /** Line ending: CRLF unless told otherwise (the simulator uses LF). */
  readonly eol?: '\r\n' | '\n' | '\r';
  /** `data:` followed by a space (default false: `data:{…}`). */
  readonly space?: boolean;
}

/** One SSE event carrying `data` (an object, or a raw string such as [DONE]). */
export function sseEvent(data: unknown, f: Framing = {}): string {
  const eol = f.eol ?? '\r\n';
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return `data:${f.space ? ' ' : ''}${text}${eol}${eol}`;
}

/** A `: ping` comment event (heartbeats some servers send; never forwarded). */
export function ssePing(f: Framing = {}): string {
  const eol = f.eol ?? '\r\n';
  return `: ping${eol}${eol}`;
}

/**
 * A complete chat stream as body pieces: each token's event is cut in two writes (the cut inside the JSON),
 * a ping comment before the first event, and a final [DONE] that lacks its blank line (the upstream closes).
 */
export function chatStream(model: string, tokens: readonly string[], f: Framing = {}): Piece[] {
  const pieces: Piece[] = [ssePing(f)];
  tokens.forEach((tok, i) => {
    const ev = sseEvent(chatChunk(model, tok, i === tokens.length - 1 ? 'stop' : null), f);
    const cut = Math.floor(ev.length / 2);
    pieces.push(ev.slice(0, cut), ev.slice(cut));
  });
  pieces.push(`data:${f.space ? ' ' : ''}[DONE]`);
  return pieces;
}

/** Headers of an event stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
export const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json' };

/** The answer most tests give a healthy model: a non-stream completion or a stream of `tokens`. */
export function healthy(req: UpstreamRequest, tokens: readonly string[] = ['Hello', ' world'], f: Framing = {}): Reply {
  const model = req.model ?? 'unknown';
  if (req.stream) return { status: 200, headers: SSE_HEADERS, body: chatStream(model, tokens, f) };
  return { status: 200, headers: JSON_HEADERS, body: [chatCompletion(model, tokens.join(''))] };
}
