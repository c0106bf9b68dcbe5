// One origin's upstream connections behind undici's Agent, with a list of the free ones: a request finds a connection at the same cost with 10 or 10,000 streams open.
//
// undici's own Pool looks for a free connection by walking all of them, twice per request when the one it
// picks becomes busy (each connection carries one request here). With 8000 streams open that walk was 9 % of
// a CPU profile taken while they started (the bench's CPU per paced event could not tell the two pools apart
// from noise: the walk is cheap per connection, it is the count that grows). This pool keeps the free
// connections on a stack: a connection goes back on it when undici reports it can take a request ('drain').
//
// It also keeps an aborted request from opening a connection. undici 7 puts a request aborted in flight back at
// the head of its connection's queue when the socket closes, and connects again before it looks at it
// (nodejs/undici#5845): a stream whose client left cost the mirror one more TCP (and TLS) handshake and an idle
// connection. Here the connection whose request was aborted refuses that one connect, and is dropped.
import { Client, Dispatcher, buildConnector, type errors } from 'undici';
import type { Socket } from 'node:net';
import { stackless } from './stackless.js';
import { readWhenTaken } from './connector.js';

type Targets = readonly Dispatcher[];

/** A handler that wants to know the connection its request was given (workers/upstream.ts bounds its reads). */
export interface ConnectionAware {
  onConnection(client: Client): void;
}

/** Each connection's current socket, kept on it when it connects (a property: a WeakMap of 8000 connections is
 * 8000 ephemerons for every garbage collection to walk). */
const kSocket = Symbol('socket');
type WithSocket = Client & { [kSocket]?: Socket };

/** The socket a connection of this pool reads from now, if it is connected. */
export function socketOf(client: Client): Socket | undefined {
  return (client as WithSocket)[kSocket];
}

function assign(handler: Dispatcher.DispatchHandler, client: Client): void {
  const h = handler as Partial<ConnectionAware>;
  if (typeof h.onConnection === 'function') h.onConnection(client);
}

interface Queued {
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: Dispatcher.DispatchHandler;
}

export class FreeListPool extends Dispatcher {
  readonly #origin: URL;
  readonly #options: Client.Options;
  /** At most this many connections (0: no cap). */
  readonly #max: number;
  readonly #clients = new Set<Client>();
  /** Connections that can take a request now (a stack: the most recently used first, still connected). */
  #free: Client[] = [];
  readonly #onStack = new WeakSet<Client>();
  /** Connections whose socket closed because their request was aborted: their next connect is refused (cleared
   * when undici reports the connection usable again, in #onDrain). */
  readonly #abandoned = new WeakSet<Client>();
  readonly #connect: buildConnector.connector;
  /** Requests waiting for a connection when all `#max` are busy, oldest first from `#head`. */
  #queue: Queued[] = [];
  #head = 0;
  #needDrain = false;
  #closed = false;
  #destroyed = false;
  #closedResolve: (() => void) | null = null;

  constructor(origin: string | URL, options: Client.Options & { connections?: number | null } = {}) {
    super();
    const { connections, ...clientOptions } = options;
    this.#origin = typeof origin === 'string' ? new URL(origin) : origin;
    this.#options = clientOptions;
    this.#max = connections ?? 0;
    const c = clientOptions.connect;
    this.#connect = readWhenTaken(typeof c === 'function' ? c : buildConnector({ timeout: clientOptions.connectTimeout ?? 10_000, ...c }));
  }

  get closed(): boolean {
    return this.#closed;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }
  /** Open connection objects (connected or not). */
  get size(): number {
    return this.#clients.size;
  }
  /** Requests waiting for a connection. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#closed || this.#destroyed) {
      fail(handler, new Error(this.#destroyed ? 'pool destroyed' : 'pool closed'));
      return false;
    }
    const client = this.#take();
    if (client === null) {
      this.#queue.push({ opts, handler });
      this.#needDrain = true;
      return false;
    }
    assign(handler, client);
    if (client.dispatch(opts, handler)) this.#push(client);
    return true;
  }

  /** A free connection, a new one when none is free and the cap allows, or null. */
  #take(): Client | null {
    for (;;) {
      const c = this.#free.pop();
      if (c === undefined) break;
      this.#onStack.delete(c);
      if (this.#clients.has(c) && !c.closed && !c.destroyed) return c;
    }
    if (this.#max > 0 && this.#clients.size >= this.#max) return null;
    const connect: buildConnector.connector = (options, callback) => {
      // refused after the connect that asked returns: undici's resume runs again then, and a close() called in
      // the meantime (the Agent closes an origin's pool when its last connection goes) can finish
      if (this.#abandoned.has(c)) queueMicrotask(() => callback(stackless(() => new AbandonedError()), null));
      else
        this.#connect(options, (err, socket) => {
          if (socket) (c as WithSocket)[kSocket] = socket as Socket;
          (callback as (e: Error | null, s: typeof socket) => void)(err, socket);
        });
    };
    const c = new Client(this.#origin, { ...this.#options, connect });
    this.#clients.add(c);
    c.on('drain', () => this.#onDrain(c));
    c.on('connect', (origin: URL, targets: Targets) => this.emit('connect', origin, [this, ...targets]));
    c.on('disconnect', (origin: URL, targets: Targets, err: errors.UndiciError) => {
      // undici's own reason when a request in flight is aborted (the abort in its client-h1.js)
      if (err.code === 'UND_ERR_INFO' && err.message === 'aborted') this.#abandoned.add(c);
      this.emit('disconnect', origin, [this, ...targets], err);
    });
    c.on('connectionError', (origin: URL, targets: Targets, err: errors.UndiciError) => {
      // as undici's Pool does: a connection that failed to connect is not used again
      this.#clients.delete(c);
      if (!(err instanceof AbandonedError)) this.emit('connectionError', origin, [this, ...targets], err);
      this.#pump();
    });
    return c;
  }

  /** Waiting requests go to new connections while the cap allows (after one failed to connect). */
  #pump(): void {
    while (this.queued > 0 && !this.#destroyed) {
      const c = this.#take();
      if (c === null) return;
      this.#onDrain(c);
    }
  }

  #push(c: Client): void {
    if (this.#onStack.has(c)) return;
    this.#onStack.add(c);
    this.#free.push(c);
  }

  /** `c` can take a request again: the oldest waiting one, else it goes back on the free stack. */
  #onDrain(c: Client): void {
    if (!this.#clients.has(c)) return;
    // usable again without reconnecting (an undici that drops the aborted request first): nothing to refuse
    this.#abandoned.delete(c);
    while (this.#head < this.#queue.length) {
      const q = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Queued;
      assign(q.handler, c);
      if (!c.dispatch(q.opts, q.handler)) return this.#compact();
    }
    this.#compact();
    this.#push(c);
    if (this.#needDrain) {
      this.#needDrain = false;
      // (undici's Agent spreads the targets it gets here, which its types leave out)
      (this.emit as (event: string, ...args: unknown[]) => boolean)('drain', this.#origin, [this]);
    }
    if (this.#closedResolve !== null) this.#closeClients();
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Waits for the queued requests to get a connection, then closes every connection gracefully. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#closed = true;
    const done = new Promise<void>((resolve) => {
      this.#closedResolve = resolve;
      if (this.queued === 0) this.#closeClients();
    });
    if (callback === undefined) return done;
    void done.then(callback);
  }

  #closeClients(): void {
    const resolve = this.#closedResolve;
    if (resolve === null || this.queued > 0) return;
    this.#closedResolve = null;
    this.#free = [];
    void Promise.all([...this.#clients].map((c) => c.close())).then(() => resolve());
  }

  /** Fails what waits and destroys every connection. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' || a == null ? null : a;
    const callback = typeof a === 'function' ? a : b;
    this.#closed = this.#destroyed = true;
    const waiting = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const q of waiting) fail(q.handler, err ?? new Error('pool destroyed'));
    this.#free = [];
    const done = Promise.all([...this.#clients].map((c) => c.destroy(err))).then(() => {
      this.#closedResolve?.();
      this.#closedResolve = null;
    });
    if (callback === undefined) return done;
    void done.then(callback);
  }
}

/** The connect refused to a connection whose request was aborted (nothing is waiting for it). */
class AbandonedError extends Error {
  readonly code = 'DIP_ABANDONED_CONNECT';
  constructor() {
    super('connection not reopened: its request was aborted');
  }
}

/** Fails a request that never reached a connection, through whichever handler interface it has. */
function fail(handler: Dispatcher.DispatchHandler, err: Error): void {
  const h = handler as { onError?: (e: Error) => void; onResponseError?: (c: null, e: Error) => void };
  if (typeof h.onError === 'function') h.onError(err);
  else h.onResponseError?.(null, err);
}
