// The raw floor's upstream client: HTTP/1.1 on node:net sockets, parsed by hand; a what-if yardstick for the bench, not product code.
//
// What it answers: how much of the floor's cost is undici's. It keeps idle connections to one origin for reuse,
// writes each request in one write, reads through one buffer (copying out only the body bytes it hands on, as the
// service's connector does), and parses a response head, then a content-length or chunked body. It knows nothing
// of trailers' contents, 1xx responses, pipelining, proxies, TLS, timeouts or retries: enough for the bench's own
// upstreams, not for a real one. It calls undici's handler interface, so the floor's exchange drives either client.
import { connect, type Socket } from 'node:net';
import { READ_BYTES } from '../../workers/connector.js';

/** undici's dispatch handler interface, the part the floor's exchange implements. */
export interface RawHandler {
  onConnect(abort: (e: Error) => void): void;
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: null): void;
  onError(e: Error): void;
}

// one read buffer for every socket, each read used before the next lands; reads of the service's size (8 KB: with 64 KB
// reads of an unpaced stream uWS took hundreds of small writes into a backed-up buffer, ~11 µs per event)
const READ = Buffer.allocUnsafeSlow(READ_BYTES);
const CRLF2 = Buffer.from('\r\n\r\n');

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailer,
}

class Conn {
  readonly socket: Socket;
  h: RawHandler | null = null;
  #state = State.Idle;
  #left = 0;
  #keep = true;
  /** Bytes of a head or a chunk-size line that a read boundary split. */
  #partial: Buffer | null = null;
  #paused = false;
  #dead = false;

  constructor(
    private readonly pool: RawPool,
    host: string,
    port: number,
  ) {
    this.socket = connect({ host, port, onread: { buffer: READ, callback: (n: number) => this.#onRead(n) } });
    this.socket.setNoDelay(true);
    this.socket.on('error', (e) => this.#fail(e));
    this.socket.on('close', () => this.#fail(new Error('upstream closed the connection')));
  }

  send(head: string, body: Buffer, h: RawHandler): void {
    this.h = h;
    this.#state = State.Head;
    this.#keep = true;
    h.onConnect((e) => this.#abort(e));
    this.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  }

  readonly #resume = (): void => {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.read(0); // reading stopped when onRead returned false; this starts it again
  };

  #abort(e: Error): void {
    const h = this.h;
    this.h = null;
    this.#dead = true;
    this.socket.destroy();
    h?.onError(e);
  }

  /** Closed or failed: never handed out again (the pool skips it). */
  get dead(): boolean {
    return this.#dead;
  }

  #fail(e: Error): void {
    this.#dead = true;
    const h = this.h;
    this.h = null;
    h?.onError(e);
  }

  #done(): void {
    const h = this.h!;
    this.h = null;
    this.#state = State.Idle;
    if (this.#keep && !this.#dead) this.pool.release(this);
    else this.socket.destroy();
    h.onComplete(null);
  }

  /** One read in READ[0, n): parsed in place; false stops reading until resume. */
  #onRead(n: number): boolean {
    let b = READ.subarray(0, n);
    if (this.#partial !== null) {
      b = Buffer.concat([this.#partial, b]);
      this.#partial = null;
    }
    let i = 0;
    while (i < b.length && this.h !== null) {
      switch (this.#state) {
        case State.Head: {
          const end = b.indexOf(CRLF2, i);
          if (end < 0) return this.#keepRest(b, i);
          this.#head(b.toString('latin1', i, end));
          i = end + 4;
          break;
        }
        case State.Length:
        case State.ChunkData: {
          const take = Math.min(this.#left, b.length - i);
          const more = this.h.onData(Buffer.from(b.subarray(i, i + take))); // a copy: READ is read into again
          this.#left -= take;
          i += take;
          if (this.#left === 0) {
            if (this.#state === State.Length) this.#done();
            else this.#state = State.ChunkEnd;
          }
          if (!more) this.#paused = true;
          break;
        }
        case State.ChunkEnd:
        case State.ChunkSize:
        case State.Trailer: {
          const eol = b.indexOf('\r\n', i, 'latin1');
          if (eol < 0) return this.#keepRest(b, i);
          const line = b.toString('latin1', i, eol);
          i = eol + 2;
          if (this.#state === State.ChunkEnd) this.#state = State.ChunkSize;
          else if (this.#state === State.Trailer) {
            if (line === '') this.#done();
          } else {
            this.#left = parseInt(line, 16);
            this.#state = this.#left === 0 ? State.Trailer : State.ChunkData;
          }
          break;
        }
        case State.Idle:
          return true; // (bytes after a response: none from the bench's upstreams)
      }
    }
    return !this.#paused;
  }

  #keepRest(b: Buffer, i: number): boolean {
    this.#partial = Buffer.from(b.subarray(i));
    return true;
  }

  #head(text: string): void {
    const lines = text.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const raw: Buffer[] = [];
    let length = -1;
    let chunked = false;
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k]!;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      raw.push(Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1'));
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
      else if (name === 'connection' && value.toLowerCase() === 'close') this.#keep = false;
    }
    if (!this.h!.onHeaders(status, raw, this.#resume)) this.#paused = true;
    if (chunked) this.#state = State.ChunkSize;
    else if (length > 0) {
      this.#state = State.Length;
      this.#left = length;
    } else this.#done();
  }
}

/** Connections to one origin: a free list of idle ones, a new one when none is free. */
export class RawPool {
  readonly #free: Conn[] = [];
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;

  constructor(origin: URL) {
    this.#host = origin.hostname;
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
  }

  request(path: string, headers: Readonly<Record<string, string>>, body: Buffer, h: RawHandler): void {
    let head = `POST ${path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\ncontent-length: ${body.length}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    let c = this.#free.pop();
    while (c?.dead === true) c = this.#free.pop(); // (closed while idle: left on the list, skipped here)
    (c ?? new Conn(this, this.#host, this.#port)).send(`${head}\r\n`, body, h);
  }

  release(c: Conn): void {
    this.#free.push(c);
  }

  close(): void {
    for (const c of this.#free.splice(0)) c.socket.destroy();
  }
}
