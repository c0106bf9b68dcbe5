// A plain upstream socket's reads bounded by its stream's credit (workers/connector.ts, boundReads): it takes from the
// kernel no more than the credit, starts again when credit comes back, and reads freely once the bound is lifted.
import t, { type Test } from 'tap';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { boundReads, boundedConnector, readAgain, readOnlyWhenTaken, READ_BYTES, type ReadBound } from '../workers/connector.js';

const TOTAL = 1 << 20; // far more than any credit here: the kernel holds the rest

/** A server that writes TOTAL bytes to each connection at once, and a socket of boundedConnector connected to it. */
async function connected(t: Test): Promise<Socket> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end(Buffer.alloc(TOTAL, 0x61));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const socket = await new Promise<Socket>((resolve, reject) => {
    boundedConnector(5_000)({ hostname: '127.0.0.1', host: `127.0.0.1:${port}`, protocol: 'http:', port: String(port), servername: undefined, localAddress: null, httpSocket: undefined }, (err, s) => {
      if (err) reject(err);
      else resolve(s as Socket);
    });
  });
  readOnlyWhenTaken(socket); // as every upstream socket is (workers/free-pool.ts)
  t.teardown(() => {
    socket.destroy();
    server.close();
  });
  return socket;
}

/** Whether the socket's handle is reading from the kernel now (Node's own flag: false once it stopped). */
const reading = (s: Socket): boolean => (s as unknown as { _handle: { reading?: boolean } | null })._handle?.reading === true;

/**
 * A consumer as undici is: on 'readable' it takes everything the socket holds, and each byte it takes uses that much
 * credit (what the SSE writer would hold for a client that does not read). `stopped` resolves each time the socket
 * has stopped reading with its bytes all taken, or has read to the end.
 */
function consume(socket: Socket, credit: { left: number }): { got: () => number; stopped: () => Promise<void>; ended: Promise<unknown> } {
  let got = 0;
  let wake: (() => void) | null = null;
  socket.on('readable', () => {
    for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) {
      got += c.byteLength;
      credit.left -= c.byteLength;
    }
    if (!reading(socket)) wakeUp();
  });
  const ends = once(socket, 'end');
  let ended = false;
  socket.on('end', () => {
    ended = true; // read to the end: no bound held it (the assertions that follow say so)
    wakeUp();
  });
  function wakeUp(): void {
    const w = wake;
    wake = null;
    w?.();
  }
  return { got: () => got, stopped: () => (ended ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve))), ended: ends };
}

t.test('a bounded socket reads no more than its credit, again when credit comes back, and all once the bound is lifted', async (t) => {
  const socket = await connected(t);
  const credit = { left: 20_000 };
  const bound: ReadBound = { get allowance() { return credit.left; }, readLump: READ_BYTES };
  t.ok(boundReads(socket, bound), 'a plain socket of boundedConnector takes a bound');
  const c = consume(socket, credit);

  await c.stopped();
  t.ok(c.got() <= 20_000, `with 20,000 bytes of credit it read ${c.got()} bytes and stopped`);
  t.ok(c.got() > 0 && credit.left < READ_BYTES, `it stopped with less than a read's worth of credit left (${credit.left})`);

  // credit comes back (the client took what it was sent): the socket reads again, as far as the new credit
  const before = c.got();
  credit.left += 30_000;
  const again = c.stopped();
  readAgain(socket);
  await again;
  t.ok(c.got() - before <= 30_000 + READ_BYTES && credit.left >= 0, `30,000 more bytes of credit: ${c.got() - before} more read, and the credit never ran below 0 (${credit.left})`);
  t.ok(credit.left < READ_BYTES, 'it stopped again with less than a read of credit left');

  // the bound lifted (the stream over, its response read to the end for the connection's reuse): it reads it all
  boundReads(socket, null);
  await c.ended;
  t.equal(c.got(), TOTAL, 'every byte read once the bound is lifted');
});

t.test('with a credit smaller than a read, reads shrink to the credit', async (t) => {
  const socket = await connected(t);
  const lump = 1_024;
  const credit = { left: 4 * lump };
  boundReads(socket, { get allowance() { return credit.left; }, readLump: lump });
  const c = consume(socket, credit);
  await c.stopped();
  // the read the bound was set before is a full one (the buffer for it was chosen after the previous read)
  t.ok(c.got() <= READ_BYTES, `the first stop after at most one full read (${c.got()} bytes)`);
  for (let i = 0; i < 5; i++) {
    const before = c.got();
    credit.left = 3 * lump;
    const again = c.stopped();
    readAgain(socket);
    await again;
    t.ok(c.got() - before <= 3 * lump, `round ${i + 1}: 3 KB of credit, ${c.got() - before} bytes read`);
    t.ok(c.got() > before, `round ${i + 1}: it read again`);
  }
});

t.test('a socket that is not a plain one of boundedConnector takes no bound', async (t) => {
  const server = createServer((s) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const s = connect((server.address() as AddressInfo).port, '127.0.0.1');
  t.teardown(() => {
    s.destroy();
    server.close();
  });
  await once(s, 'connect');
  t.notOk(boundReads(s, { allowance: 0, readLump: 1 }), 'refused (its reads stay as Node makes them)');
});
