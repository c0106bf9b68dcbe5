// The bench's `floor` target: uWebSockets.js in front of undici and nothing else, what this design costs before the service adds anything.
//
// Not a strict lower bound: in one of two runs the service relayed 8000 paced streams for less CPU per event than this
// floor (21.9 against 25.2 µs; in the other 19.9 against 20.1), with its own batching (docs/performance.md, "the floors").
// What it keeps of the service is its transport: uWS with its 16 listen sockets (src/http/uws.ts: without them a
// burst overflows the accept queue), undici's dispatch handler interface with pause and resume, a free list of
// connections per origin (workers/free-pool.ts: undici's Pool walks every connection), the upstream connector
// (workers/connector.ts: 8 KB reads copied out of one buffer, where Node allocates 64 KB per read), the chunks of one
// upstream read written in one cork (undici hands over each HTTP chunk, i.e. each event, alone), and the node flags.
// What it leaves out: routing, keys, validation, the request's JSON, admission, workers and their messages, the
// relay's framing and peeking, credit, timers, counters, logs, retries and every error but one 502. A stream pauses
// its upstream while uWS's buffer is not drained.
// With FLOOR_CLIENT=raw (the bench's `rawfloor`) undici gives way to perf/lib/raw-client.ts: what the floor costs without it.
// Run as a script: PORT, UPSTREAM (the mirror's base URL, e.g. http://127.0.0.1:PORT/v1/openai), FLOOR_CLIENT.
import { Agent, type Dispatcher } from 'undici';
import { createApp, listen, loadUws, type HttpResponse } from '../../src/http/uws.js';
import { FreeListPool } from '../../workers/free-pool.js';
import { boundedConnector } from '../../workers/connector.js';
import { RawPool } from './raw-client.js';

const STATUS_502 = '502 Bad Gateway';
const OK = '200 OK';

/** One request: uWS's response on one side, undici's handler on the other. */
class Exchange implements Dispatcher.DispatchHandler {
  #chunks: Buffer[] = [];
  #abort: ((e: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #stream = false;
  #gone = false;
  #started = false;
  #status = OK;
  /** The chunks of the upstream read being parsed: written together once undici is done with it (a microtask). */
  #pending: Buffer[] = [];
  /** uWS's buffer is not drained: the upstream stays paused until onWritable. */
  #blocked = false;
  readonly #flush = (): void => {
    const chunks = this.#pending;
    this.#pending = [];
    if (this.#gone || chunks.length === 0) return;
    this.res.cork(() => this.#write(chunks));
  };

  /** Inside a cork: the head before the first bytes (a short stream's head, events and end leave in one send). */
  #write(chunks: readonly Buffer[]): void {
    if (!this.#started) {
      this.#started = true;
      this.res.writeStatus(this.#status).writeHeader('content-type', 'text/event-stream; charset=utf-8').writeHeader('cache-control', 'no-cache');
    }
    for (const c of chunks) if (!this.res.write(c)) this.#blocked = true;
  }

  constructor(private readonly res: HttpResponse) {}

  /** The client left: the upstream request goes too. */
  gone(): void {
    this.#gone = true;
    this.#abort?.(new Error('client gone'));
  }

  onConnect(abort: (e: Error) => void): void {
    this.#abort = abort;
    if (this.#gone) abort(new Error('client gone'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.#resume = resume;
    this.#status = status === 200 ? OK : `${status} Upstream`;
    this.#stream = contentType(raw).startsWith('text/event-stream');
    if (this.#stream && !this.#gone) {
      this.res.onWritable(() => {
        this.#blocked = false;
        this.#resume?.();
        return true;
      });
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#gone) return true;
    if (!this.#stream) {
      this.#chunks.push(chunk);
      return true;
    }
    if (this.#pending.push(chunk) === 1) queueMicrotask(this.#flush);
    return !this.#blocked; // false: undici pauses the socket until onWritable's resume
  }

  onComplete(): void {
    if (this.#gone) return;
    const last = this.#pending;
    this.#pending = [];
    this.res.cork(() => {
      // the last read's chunks and the end leave in one send, as the service does
      if (this.#stream) {
        this.#write(last);
        this.res.end();
      } else this.res.writeStatus(this.#status).writeHeader('content-type', 'application/json').end(Buffer.concat(this.#chunks));
    });
  }

  onError(): void {
    if (this.#gone) return;
    this.#gone = true;
    if (this.#started) {
      this.res.close();
      return;
    }
    this.res.cork(() => {
      this.res.writeStatus(STATUS_502).writeHeader('content-type', 'application/json').end('{"error":{"message":"upstream failed","type":"upstream_error","param":null,"code":"upstream_error"}}');
    });
  }
}

function contentType(raw: Buffer[]): string {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toString('latin1').toLowerCase() === 'content-type') return raw[i + 1]!.toString('latin1');
  return '';
}

async function main(): Promise<void> {
  const upstream = new URL(process.env['UPSTREAM'] ?? 'http://127.0.0.1:8080/v1/openai');
  const path = upstream.pathname.replace(/\/+$/, '') + '/chat/completions';
  const agent = new Agent({
    connections: 20_000, pipelining: 1, keepAliveTimeout: 4_000, connect: boundedConnector(10_000), factory: (origin, opts) => new FreeListPool(origin, opts),
  });
  const raw = process.env['FLOOR_CLIENT'] === 'raw' ? new RawPool(upstream) : null;
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream, application/json' };
  const rt = loadUws();
  const app = createApp(rt);
  app.get('/*', (res) => {
    res.cork(() => res.writeHeader('content-type', 'application/json').end('{"status":"ok"}'));
  });
  app.post('/*', (res) => {
    const x = new Exchange(res);
    res.onAborted(() => x.gone());
    const parts: Buffer[] = [];
    res.onData((ab, last) => {
      parts.push(Buffer.from(ab.slice(0))); // uWS's buffer is valid only inside this call
      if (!last) return;
      const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (raw !== null) raw.request(path, headers, body, x);
      else agent.dispatch({ origin: upstream.origin, path, method: 'POST', headers, body, bodyTimeout: 0, blocking: false }, x);
    });
  });
  const l = await listen(rt, app, process.env['HOST'] ?? '127.0.0.1', Number(process.env['PORT'] ?? 0));
  process.stdout.write(`floor listening on ${l.port}\n`);
  process.once('SIGTERM', () => {
    l.close();
    raw?.close();
    void agent.destroy().finally(() => process.exit(0));
  });
}

await main();
