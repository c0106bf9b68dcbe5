// How upstream sockets read: plain-HTTP mirrors read at most READ_BYTES at a time, so a paused stream holds little.
import { buildConnector } from 'undici';
import type { Socket } from 'node:net';

/**
 * The most one read of a plain-HTTP upstream socket takes, and the socket's read-ahead (its highWaterMark).
 * Node reads a TCP socket 64 KB at a time and, by undici's default, reads ahead up to 64 KB more: a stream
 * paused for a slow client held about two such reads. And a paused stream resumes with a lump of credit
 * (half of the default 16 KB STREAM_BUFFER_SIZE): undici then reads all the socket holds, parses until that
 * credit is spent and puts the rest back, while one more read lands. With reads larger than the lump each
 * resume left more behind, and copied it all again: with 16 KB reads a pool of 2 grew ~680 KB of RSS per
 * paused stream in a burst of 300 slow clients, with 8 KB reads ~280 KB. TLS sockets hand on records of up to
 * 16 KB (not bounded here).
 */
export const READ_BYTES = 8_192;

/** Hands one read on to the socket's readable side, as Node does; false stops reading until the socket is read. */
function onRead(this: Socket, n: number, buf: Buffer): boolean {
  const chunk = Buffer.allocUnsafe(n);
  buf.copy(chunk, 0, 0, n);
  return this.push(chunk);
}

/** undici's connector with bounded reads for `http:` origins; `https:` origins keep undici's TLS defaults. */
export function boundedConnector(timeoutMs: number): buildConnector.connector {
  const secure = buildConnector({ timeout: timeoutMs });
  // One read buffer for all the plain sockets of this connector: each read is copied out of it in onRead, before
  // the next read can land. (A function as `onread.buffer` would be called after every read: 16 KB per read.)
  const onread = { buffer: Buffer.allocUnsafeSlow(READ_BYTES), callback: onRead as (n: number, buf: Uint8Array) => boolean };
  // net.connect's options, which undici passes through (its types leave out highWaterMark and onread)
  const plain = buildConnector({ timeout: timeoutMs, highWaterMark: READ_BYTES, onread } as buildConnector.BuildOptions);
  return (options, callback) => {
    (options.protocol === 'https:' ? secure : plain)(options, callback);
  };
}
