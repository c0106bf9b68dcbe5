// The upstream connector (issue 13, slow clients): a plain-HTTP upstream socket reads at most READ_BYTES at a time and
// reads ahead no further, so a stream paused for a slow client holds one bounded read, and every byte still arrives.
import t from 'tap';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { boundedConnector, READ_BYTES } from '../workers/connector.js';

const TOTAL = 4 * 1024 * 1024;

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 13)) & 0xff;
  return b;
}

/** A server that writes `body` at once to every connection, then ends it (a client that leaves early is no error). */
async function serve(body: Buffer): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('error', () => undefined).end(body));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

function connect(port: number, connector = boundedConnector(5_000)): Promise<Socket> {
  return new Promise((resolve, reject) => {
    connector({ hostname: '127.0.0.1', host: '127.0.0.1', protocol: 'http:', port: String(port), servername: undefined, localAddress: null, httpSocket: undefined }, (err, socket) => {
      if (err) reject(err);
      else resolve(socket as Socket);
    });
  });
}

t.test('a socket nobody reads holds at most one bounded read', async (t) => {
  const body = pattern(TOTAL);
  const { server, port } = await serve(body);
  t.teardown(() => server.close());
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  t.equal(socket.readableHighWaterMark, READ_BYTES, 'read-ahead bounded');
  await once(socket, 'readable'); // the first read has landed; nothing reads the socket
  t.ok(socket.readableLength > 0, 'data arrived');
  t.ok(socket.readableLength <= READ_BYTES, `held ${socket.readableLength} bytes, at most ${READ_BYTES}`);
});

t.test('read in bounded pieces, every byte arrives in order', async (t) => {
  const body = pattern(TOTAL);
  const { server, port } = await serve(body);
  t.teardown(() => server.close());
  const socket = await connect(port);
  const pieces: Buffer[] = [];
  socket.on('data', (c: Buffer) => pieces.push(c));
  await once(socket, 'end');
  const largest = Math.max(...pieces.map((p) => p.length));
  t.ok(largest <= READ_BYTES, `largest read ${largest} bytes`);
  // compared after the last read: a piece that were a view of the shared read buffer would have been overwritten
  t.ok(Buffer.concat(pieces).equals(body), 'the body arrives whole and unchanged');
});

/** net.Socket's own record of its onread buffer (Node 20 and 22 keep it under these symbol names). */
function readBufferOf(socket: Socket): { buffer: unknown; generator: unknown } {
  const own = Object.getOwnPropertySymbols(socket);
  const get = (name: string): unknown => {
    const sym = own.find((s) => s.description === name);
    return sym === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[sym];
  };
  return { buffer: get('kBuffer'), generator: get('kBufferGen') };
}

t.test('sockets of one connector read at once: each body whole, no buffer made per read', async (t) => {
  // onRead copies every read out of the connector's one read buffer before the next read lands, so sockets may
  // share it; a new buffer per read would be 8 KB of garbage per read
  const a = pattern(TOTAL);
  const b = Buffer.from(pattern(TOTAL).map((x) => x ^ 0x5a));
  const sa = await serve(a);
  const sb = await serve(b);
  t.teardown(() => { sa.server.close(); sb.server.close(); });
  const connector = boundedConnector(5_000);
  const [x, y] = await Promise.all([connect(sa.port, connector), connect(sb.port, connector)]);
  const got = await Promise.all([x, y].map(async (s) => {
    const pieces: Buffer[] = [];
    s.on('data', (c: Buffer) => pieces.push(c));
    await once(s, 'end');
    return Buffer.concat(pieces);
  }));
  t.ok(got[0]!.equals(a) && got[1]!.equals(b), 'two sockets read at once: each body arrives whole, nothing crossed over');
  const shared: unknown[] = [];
  for (const [i, s] of [x, y].entries()) {
    const r = readBufferOf(s);
    t.ok(Buffer.isBuffer(r.buffer) && (r.buffer as Buffer).length === READ_BYTES, `socket ${i}: a ${READ_BYTES}-byte read buffer`);
    // Node asks the generator for the next read's buffer after every read: without a bound (workers/connector.ts,
    // boundReads) it answers with the same buffer every time
    t.equal(typeof r.generator, 'function', `socket ${i}: a read-buffer generator`);
    const gen = r.generator as () => unknown;
    const first = gen();
    t.equal(gen(), first, `socket ${i}: the same buffer for every read, none made per read`);
    t.equal(first, r.buffer, `socket ${i}: the buffer it read into`);
    shared.push(first);
  }
  t.equal(shared[0], shared[1], 'one read buffer for both sockets of the connector');
});
