// The simulator server: node:http listener, routing, request records, stats and events (the public API).
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { errorBody, modelsBody } from './bodies.js';
import { handlePost, sendBody, type PostRoute } from './handlers.js';
import { handleMedia, MEDIA_ROUTES } from './media.js';
import { ClientGone, Exchange, type WriterHooks } from './writer.js';

export { parseModel, BEHAVIOURS, type Behaviour, type SimOptions, type SimSpec } from './spec.js';
export { tokenText, pieces, makePlan, TOOL_NAME, TOOL_ARGS } from './content.js';
export { SECRET_ECHO, SIM_MODELS, EMBEDDING_DIM, embedding } from './bodies.js';
export { SPEECH_BYTES_PER_CHAR, SPEECH_CHUNK, solidPng } from './media.js';

export interface SimRequestRecord {
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  at: number;
}

export interface SimStats {
  requests: number;
  aborts: number;
  completed: number;
  blockedWrites: number;
  /** Responses whose last write was not taken in full and that wait for 'drain' now. */
  waitingDrain: number;
  inFlight: number;
  /** TCP connections accepted (reset() keeps the count of open ones). */
  connections: number;
  /** Connections open now. */
  openConnections: number;
}

export interface SimAbortEvent { path: string; model: string; at: number; eventsSent: number }
export interface SimCompleteEvent { model: string; eventsSent: number }
export interface SimModelEvent { model: string }

export interface Simulator extends EventEmitter {
  readonly port: number;
  /** e.g. http://127.0.0.1:PORT/v1/openai (append /chat/completions etc.). */
  readonly baseUrl: string;
  /** Every request received, in order (the last MAX_RECORDS). */
  readonly requests: SimRequestRecord[];
  readonly stats: SimStats;
  /** GET /models answers 503 while down. */
  setModelsDown(down: boolean): void;
  /** Clears requests, stats and per-model counters (flaky). */
  reset(): void;
  /** Closes the server and destroys open sockets. */
  close(): Promise<void>;
}

export const MAX_RECORDS = 10000;
const BASES = ['/v1/openai', '/v1'];
const POST_ROUTES: Readonly<Record<string, PostRoute>> = {
  '/chat/completions': 'chat',
  '/completions': 'completion',
  '/embeddings': 'embeddings',
};

class SimulatorImpl extends EventEmitter implements Simulator {
  port = 0;
  baseUrl = '';
  readonly requests: SimRequestRecord[] = [];
  readonly stats: SimStats = { requests: 0, aborts: 0, completed: 0, blockedWrites: 0, waitingDrain: 0, inFlight: 0, connections: 0, openConnections: 0 };
  private modelsDown = false;
  private seq = 0;
  private readonly perModel = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly hooks: WriterHooks;
  readonly server: http.Server;

  constructor() {
    super();
    this.hooks = {
      blocked: (x) => {
        this.stats.blockedWrites++;
        this.stats.waitingDrain++;
        this.emit('write-blocked', { model: x.model } satisfies SimModelEvent);
        if (!x.blockedOnce) {
          x.blockedOnce = true;
          this.emit('blocked', { model: x.model } satisfies SimModelEvent);
        }
      },
      drained: (x) => {
        this.stats.waitingDrain--;
        this.emit('drain', { model: x.model } satisfies SimModelEvent);
      },
    };
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      this.stats.connections++;
      this.stats.openConnections++;
      s.once('close', () => {
        this.sockets.delete(s);
        this.stats.openConnections--;
      });
    });
  }

  setModelsDown(down: boolean): void {
    this.modelsDown = down;
  }

  reset(): void {
    this.requests.length = 0;
    this.perModel.clear();
    const inFlight = this.stats.inFlight;
    const open = this.stats.openConnections;
    Object.assign(this.stats, { requests: 0, aborts: 0, completed: 0, blockedWrites: 0, waitingDrain: this.stats.waitingDrain, inFlight, connections: open, openConnections: open });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const id = ++this.seq;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const x = new Exchange(path, res);
    this.stats.requests++;
    this.stats.inFlight++;
    res.setHeader('x-sim-request-id', String(id));
    res.once('finish', () => {
      this.stats.completed++;
      this.emit('complete', { model: x.model, eventsSent: x.eventsSent } satisfies SimCompleteEvent);
    });
    // The http server keeps sockets half-open: without this a client that left would only be noticed at the
    // next write. A FIN while this response is still open means the client is gone.
    const socket = req.socket;
    const onEnd = (): void => {
      if (!res.writableFinished) res.destroy();
    };
    socket.once('end', onEnd);
    res.once('close', () => {
      socket.off('end', onEnd);
      this.stats.inFlight--;
      if (res.writableFinished || x.selfDestroyed) return;
      this.stats.aborts++;
      const ev: SimAbortEvent = { path, model: x.model, at: performance.now(), eventsSent: x.eventsSent };
      this.emit('abort', ev);
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: SimRequestRecord = { path, method: req.method ?? '', headers: req.headers, body, at: performance.now() };
      this.requests.push(record);
      if (this.requests.length > MAX_RECORDS) this.requests.splice(0, this.requests.length - MAX_RECORDS);
      this.emit('request', record);
      this.route(req.method ?? '', path, x, body, id, req.headers['content-type']).catch((err: unknown) => {
        if (err instanceof ClientGone) return;
        if (!res.headersSent && !x.gone) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(errorBody(`simulator failure: ${String(err)}`, 'server_error', 'sim_internal'));
        } else {
          res.destroy();
        }
      });
    });
  }

  private countModel = (model: string): number => {
    const n = (this.perModel.get(model) ?? 0) + 1;
    this.perModel.set(model, n);
    return n;
  };

  private async route(method: string, path: string, x: Exchange, body: Buffer, id: number, contentType: string | undefined): Promise<void> {
    const base = BASES.find((b) => path.startsWith(b + '/'));
    const sub = base === undefined ? undefined : path.slice(base.length);
    if (sub === '/models' && method === 'GET') {
      if (this.modelsDown) {
        return sendBody(x, this.hooks, 503, errorBody('Simulated models list outage.', 'server_error', 'service_unavailable'));
      }
      return sendBody(x, this.hooks, 200, modelsBody());
    }
    const postRoute = sub === undefined ? undefined : POST_ROUTES[sub];
    if (postRoute !== undefined && method === 'POST') {
      return handlePost({ x, route: postRoute, body, requestId: id, hooks: this.hooks, countModel: this.countModel });
    }
    const media = sub === undefined ? undefined : MEDIA_ROUTES[sub];
    if (media !== undefined && method === 'POST') {
      return handleMedia({ x, route: media, body, contentType, requestId: id, hooks: this.hooks, countModel: this.countModel });
    }
    const msg = `Unknown request URL: ${method} ${path}.`;
    return sendBody(x, this.hooks, 404, errorBody(msg, 'invalid_request_error', 'unknown_url'));
  }
}

/** Starts a simulator on `host:port` (default 127.0.0.1, port 0 = any free port). */
export async function startSimulator(opts: { port?: number; host?: string } = {}): Promise<Simulator> {
  const sim = new SimulatorImpl();
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    sim.server.once('error', reject);
    sim.server.listen(opts.port ?? 0, host, () => {
      sim.server.off('error', reject);
      resolve();
    });
  });
  sim.port = (sim.server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  sim.baseUrl = `http://${shownHost}:${sim.port}/v1/openai`;
  return sim;
}
