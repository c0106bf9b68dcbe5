// How upstream sockets connect and read: names through the DNS cache, plain-HTTP mirrors at most READ_BYTES at a time and no more than their stream's credit, and every socket only once undici has taken what it holds.
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

/** What a stream lets its upstream socket read: no more than its client can take now (the stream's credit). */
export interface ReadBound {
  /** Bytes the stream can take now (its credit); what the socket holds and undici has not parsed counts against it. */
  readonly allowance: number;
  /** The least room a read needs (the credit's lump): below it the socket stops until credit comes back. */
  readonly readLump: number;
}

/** On a plain socket of `boundedConnector`: the bound its current stream sets (null: none, reads of READ_BYTES). */
const kBound = Symbol('readBound');
interface Bounded {
  [kBound]?: ReadBound | null;
}

/** The size of the next read, set by onRead for the read buffer Node asks for right after it (readBuffer). */
let nextSize = READ_BYTES;

/** Room under `bound` for the socket's next read: bytes, or 0 when it must stop (less than a lump left). */
function roomUnder(s: Socket, bound: ReadBound): number {
  const left = bound.allowance - s.readableLength;
  return left >= Math.min(READ_BYTES, bound.readLump) ? left : 0;
}

/** Room under a socket's bound for its next read (Infinity without a bound). */
function room(s: Socket & Bounded): number {
  const bound = s[kBound];
  return bound == null ? Infinity : roomUnder(s, bound);
}

/**
 * Hands one read on to the socket's readable side, as Node does; false stops reading until the socket is read.
 * Under a bound a socket reads only while its stream's credit has a lump free, and no more than the credit: what
 * the client cannot take yet stays in the kernel's socket buffers (not the process's memory). With the default
 * STREAM_BUFFER_SIZE a lump is a whole read, so reads keep their size; with a smaller one they shrink to the credit.
 */
function onRead(this: Socket & Bounded, n: number, buf: Buffer): boolean {
  const chunk = Buffer.allocUnsafe(n);
  buf.copy(chunk, 0, 0, n);
  const more = this.push(chunk);
  const bound = this[kBound];
  if (bound == null) return more;
  const r = roomUnder(this, bound);
  // stopped: it starts again with at least a lump of room, and reads no more than that first
  nextSize = Math.min(READ_BYTES, r === 0 ? bound.readLump : r);
  return r === 0 ? false : more;
}

/** Node's read buffer for a bounded connector's next read: `full`, or the start of it that onRead allowed. */
function readBuffer(full: Buffer): () => Buffer {
  return () => {
    const n = nextSize;
    nextSize = READ_BYTES;
    return n >= READ_BYTES ? full : full.subarray(0, n);
  };
}

/**
 * Sets (or, with null, lifts) the bound on what a plain upstream socket of `boundedConnector` reads for its
 * stream; other sockets are left as they are (false). Lifting it lets a socket that stopped for it read again.
 */
export function boundReads(socket: Socket, bound: ReadBound | null): boolean {
  const s = socket as Socket & Bounded;
  if (!(kBound in s)) return false;
  s[kBound] = bound;
  if (bound === null) readAgain(s);
  return true;
}

/** The bound's allowance grew (credit came back): a socket that stopped for it reads again if there is room now. */
export function readAgain(socket: Socket): void {
  const s = socket as Socket & Bounded & Internals;
  if (s.destroyed || s._handle === null || s._handle.reading === true || s.readableLength > 0 || room(s) === 0) return;
  s.read(0); // asks the socket for more without taking anything (undici takes what it holds when it reads)
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

/** Whether a read() or _read() may start the socket's reading: not while it holds data (asking for more then would
 * land one more read on top), nor without room under its bound. One reading already starts nothing (no bound to ask). */
function mayStart(s: Socket): boolean {
  if ((s as unknown as Internals)._handle?.reading === true) return true;
  return !(s.readableLength > 0) && room(s) !== 0;
}

// one pair of functions for every gated socket (a closure per socket would make undici's calls megamorphic)
function gatedStartRead(this: Socket, size: number): void {
  if (!mayStart(this)) {
    // not reading: the next read() (undici's, when the stream resumes) asks again
    (this as unknown as Internals)._readableState.reading = false;
    return;
  }
  socketStartRead.call(this, size);
}

// a socket with its own read buffer (`onread`) starts reading in read() itself, before _read is asked
function gatedRead(this: Socket, size?: number): unknown {
  return mayStart(this) ? socketRead.call(this, size) : duplexRead.call(this, size);
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
  // the next read can land. Node asks `buffer` for the next read's buffer after every read: this one, or its start
  // when the socket's bound allows less (a view, allocated only then).
  const onread = { buffer: readBuffer(Buffer.allocUnsafeSlow(READ_BYTES)), callback: onRead as (n: number, buf: Uint8Array) => boolean };
  // net.connect's options, which undici passes through (its types leave out highWaterMark and onread)
  const plain = buildConnector({ timeout: timeoutMs, highWaterMark: READ_BYTES, onread, lookup } as buildConnector.BuildOptions);
  return (options, callback) => {
    const isPlain = options.protocol !== 'https:';
    (isPlain ? plain : secure)(options, (err, socket) => {
      if (err !== null) lookup.forget(options.hostname);
      else if (isPlain) (socket as unknown as Bounded)[kBound] = null; // its reads can be bounded (boundReads)
      (callback as (e: Error | null, s: typeof socket) => void)(err, socket);
    });
  };
}
