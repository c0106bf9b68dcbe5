// One response's output: backpressure-aware writes (drain waits), split/CRLF/gzip framing and client-gone tracking.
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { splitBytes, type Prng } from './prng.js';

/** Thrown out of a write or wait once the client has closed the connection; handlers just stop. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGone';
  }
}

/** The state of one request/response pair that the server's events and stats are computed from. */
export class Exchange {
  model = '';
  eventsSent = 0;
  /** Set when the simulator itself destroyed the socket (so it is not reported as a client abort). */
  selfDestroyed = false;
  /** True once `blocked` was reported for this response. */
  blockedOnce = false;
  gone = false;
  readonly closed: Promise<void>;

  constructor(readonly path: string, readonly res: ServerResponse) {
    this.closed = new Promise((resolve) => {
      res.once('close', () => {
        this.gone = true;
        resolve();
      });
    });
  }

  /** Waits `ms`, or less if the client goes first (then throws ClientGone). */
  async pause(ms: number): Promise<void> {
    if (this.gone) throw new ClientGone();
    if (ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), this.closed]);
    clearTimeout(timer);
    if (this.gone) throw new ClientGone();
  }
}

export interface WriterHooks {
  /** A write returned false (backpressure). */
  blocked(x: Exchange): void;
  /** The awaited 'drain' came. */
  drained(x: Exchange): void;
}

export interface WriterOptions {
  crlf?: boolean;
  /** When set, every write is cut into 1–7-byte pieces, each followed by a setImmediate yield. */
  split?: Prng | null;
  /** Compress the body (headers must already say `content-encoding: gzip`). */
  gzip?: boolean;
}

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Writer {
  private readonly sink: Writable;
  private readonly gz: zlib.Gzip | null;
  private readonly split: Prng | null;
  readonly sep: string;
  readonly eol: string;

  constructor(private readonly x: Exchange, private readonly hooks: WriterHooks, o: WriterOptions = {}) {
    this.eol = o.crlf ? '\r\n' : '\n';
    this.sep = this.eol + this.eol;
    this.split = o.split ?? null;
    if (o.gzip) {
      this.gz = zlib.createGzip();
      this.gz.pipe(x.res);
      void x.closed.then(() => this.gz?.destroy());
      this.sink = this.gz;
    } else {
      this.gz = null;
      this.sink = x.res;
    }
  }

  /** Writes raw bytes, honouring backpressure. */
  async bytes(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (!this.split) return this.put(buf);
    for (const piece of splitBytes(buf, this.split)) {
      await this.put(piece);
      await yieldTurn();
    }
  }

  /** Writes one `data:` event and counts it. */
  async event(payload: string): Promise<void> {
    await this.bytes(`data: ${payload}${this.sep}`);
    this.x.eventsSent++;
  }

  /** Writes an SSE comment line (`: text`). */
  comment(text: string): Promise<void> {
    return this.bytes(`: ${text}${this.sep}`);
  }

  private async put(buf: Buffer): Promise<void> {
    if (this.x.gone) throw new ClientGone();
    const ok = this.sink.write(buf);
    if (this.gz) this.gz.flush(zlib.constants.Z_SYNC_FLUSH);
    if (ok) return;
    this.hooks.blocked(this.x);
    await Promise.race([new Promise((r) => this.sink.once('drain', r)), this.x.closed]);
    this.hooks.drained(this.x);
    if (this.x.gone) throw new ClientGone();
  }

  /** Ends the response and waits until it is finished (or the client went). */
  async end(): Promise<void> {
    if (this.x.gone) throw new ClientGone();
    const res = this.x.res;
    const finished = new Promise<void>((r) => res.once('finish', () => r()));
    if (this.gz) this.gz.end();
    else res.end();
    await Promise.race([finished, this.x.closed]);
  }

  /** Waits until everything written so far has left the process (handed to the kernel). */
  async flushed(): Promise<void> {
    const socket = this.x.res.socket;
    if (!socket || this.x.gone) return;
    // A fresh response corks the socket until the next tick, so 'drain' alone is not enough to wait on.
    while (socket.writableLength > 0 && !this.x.gone) {
      if (socket.writableNeedDrain) await Promise.race([new Promise((r) => socket.once('drain', r)), this.x.closed]);
      else await yieldTurn();
    }
    await yieldTurn();
  }

  /** Kills the connection abruptly (TCP RST where available). */
  reset(): void {
    const socket = this.x.res.socket;
    this.x.selfDestroyed = true;
    if (!socket) return;
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }
}
