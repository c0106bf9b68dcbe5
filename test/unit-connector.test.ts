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

function connect(port: number): Promise<Socket> {
  const connector = boundedConnector(5_000);
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
