// How upstream sockets connect and read: names through the DNS cache, plain-HTTP mirrors at most READ_BYTES at a time, and every socket only once undici has taken what it holds.
import { buildConnector } from 'undici';
import { Socket as NetSocket, type Socket } from 'node:net';
import { Duplex, Readable } from 'node:stream';
import { cachedLookup, type CachedLookup } from './dns-cache.js';

/**
 * The most one read of a plain-HTTP upstream socket takes, and the socket's read-ahead (its highWaterMark).
 * Node reads a TCP socket 64 KB at a time and, by undici's default, reads ahead up to 64 KB more: a stream
 * paused for a slow client held about two such reads. With reads of 8 KB and `readOnlyWhenTaken` (below) a paused
 * stream's socket holds at most its 8 KB read-ahead and one read more, and one read (8 KB) when its reads are full,
 * as in test/flow-held.test.ts. Before `readOnlyWhenTaken` each resume (with
 * a lump of credit, half of the default 16 KB STREAM_BUFFER_SIZE) let one more read land: with 16 KB reads more
 * than a lump was left behind each time, and a pool of 2 grew ~680 KB of RSS per paused stream in a burst of 300
 * slow clients, with 8 KB reads ~280 KB.
 */
export const READ_BYTES = 8_192;

/** Hands one read on to the socket's readable side, as Node does; false stops reading until the socket is read. */
function onRead(this: Socket, n: number, buf: Buffer): boolean {
  const chunk = Buffer.allocUnsafe(n);
  buf.copy(chunk, 0, 0, n);
  return this.push(chunk);
}

/** Node's internals a gated socket reads: its readable state (`reading` is a getter and setter on Node 20 and 22
 * alike) and its handle's own reading flag. */
interface Internals {
  _readableState: { reading: boolean };
  _handle: { reading?: boolean } | null;
}

/** Whether this Node's readable state has a settable `reading` (else sockets read as Node and undici do). */
const READING_SETTABLE = ((): boolean => {
  const state = (new Readable() as unknown as { _readableState: object })._readableState;
  const d = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(state), 'reading') ?? Object.getOwnPropertyDescriptor(state, 'reading');
  return d !== undefined && (d.set !== undefined || d.writable === true);
})();

const socketStartRead = NetSocket.prototype._read;
const socketRead = NetSocket.prototype.read;
const duplexRead = Duplex.prototype.read;

/** Holds data and its handle stopped reading: asking for more now would land one more read on top. */
function holding(s: Socket): boolean {
  return s.readableLength > 0 && (s as unknown as Internals)._handle?.reading !== true;
}

// one pair of functions for every gated socket (a closure per socket would make undici's calls megamorphic)
function gatedStartRead(this: Socket, size: number): void {
  if (holding(this)) {
    // not reading: the next read() (undici's, when the stream resumes) asks again
    (this as unknown as Internals)._readableState.reading = false;
    return;
  }
  socketStartRead.call(this, size);
}

// a socket with its own read buffer (`onread`) starts reading in read() itself, before _read is asked
function gatedRead(this: Socket, size?: number): unknown {
  return holding(this) ? duplexRead.call(this, size) : socketRead.call(this, size);
}

/**
 * undici reads a socket with `read()`, which takes all it holds and asks the socket for more in the same call;
 * when the stream pauses inside that, undici puts the rest back (`unshift`). So every resume of a paused stream
 * added one more read from the network to what the socket held: a TLS mirror's socket (a read there is whatever
 * the TLS layer decrypted from up to 64 KB off the wire) grew without bound under a client that reads slowly, as
 * did a plain one reached through an HTTP proxy, and a plain socket of `boundedConnector` held two reads. A socket
 * whose reading stopped is asked for more only when what it holds has been taken; one still reading (a stream not
 * paused) is left as it is. Sockets whose reads are not Node's own are left alone.
 */
export function readOnlyWhenTaken(socket: Socket): void {
  if (!READING_SETTABLE || socket._read !== socketStartRead || socket.read !== socketRead) return;
  socket._read = gatedStartRead;
  socket.read = gatedRead;
}

/** A connector whose sockets read only when what they hold has been taken (`readOnlyWhenTaken`). */
export function readWhenTaken(connect: buildConnector.connector): buildConnector.connector {
  return (options, callback) => {
    connect(options, (err, socket) => {
      if (socket) readOnlyWhenTaken(socket as Socket);
      (callback as (e: Error | null, s: typeof socket) => void)(err, socket);
    });
  };
}

/**
 * undici's connector with bounded reads for `http:` origins; `https:` origins keep undici's TLS defaults. Host
 * names are resolved through `lookup` (workers/dns-cache.ts); a connection that fails makes its name be
 * resolved again.
 */
export function boundedConnector(timeoutMs: number, lookup: CachedLookup = cachedLookup()): buildConnector.connector {
  const secure = buildConnector({ timeout: timeoutMs, lookup } as buildConnector.BuildOptions);
  // One read buffer for all the plain sockets of this connector: each read is copied out of it in onRead, before
  // the next read can land. (A function as `onread.buffer` would be called after every read: 16 KB per read.)
  const onread = { buffer: Buffer.allocUnsafeSlow(READ_BYTES), callback: onRead as (n: number, buf: Uint8Array) => boolean };
  // net.connect's options, which undici passes through (its types leave out highWaterMark and onread)
  const plain = buildConnector({ timeout: timeoutMs, highWaterMark: READ_BYTES, onread, lookup } as buildConnector.BuildOptions);
  return (options, callback) => {
    (options.protocol === 'https:' ? secure : plain)(options, (err, socket) => {
      if (err !== null) lookup.forget(options.hostname);
      (callback as (e: Error | null, s: typeof socket) => void)(err, socket);
    });
  };
}
