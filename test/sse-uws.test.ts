// The SSE writer over a real uWS socket: the end of a burst never waits in uWS's buffer for more bytes (issue 12 §2).
import t, { type Test } from 'tap';
import type { Socket } from 'node:net';
import { createApp, listen, loadUws, type HttpResponse } from '../src/http/uws.js';
import { UwsSink, writeSseHead } from '../src/http/sse.js';
import { SseWriter } from '../src/sse/writer.js';
import { openSocket } from './helpers/raw.js';
import { within } from './helpers/harness.js';

const EVENT = Buffer.from(`data: ${'x'.repeat(8 * 1024 - 9)}\n\n`); // 8 KiB events: under uWS's 16 KiB cork buffer

interface Stream {
  readonly writer: SseWriter;
  readonly res: HttpResponse;
}

/** A uWS app whose one route opens an SSE stream and hands its writer to the test (which pushes from outside uWS's callbacks). */
async function server(t: Test): Promise<{ port: number; next(): Promise<Stream> }> {
  const rt = loadUws(true);
  const app = createApp(rt);
  const waiting: Array<(s: Stream) => void> = [];
  app.get('/sse', (res) => {
    res.onAborted(() => undefined);
    const writer = new SseWriter(new UwsSink(res, { startStream: () => writeSseHead(res, { reqId: 'r', corsOrigin: null }, false) }), { grant: () => undefined }, 1 << 30);
    res.onWritable(() => writer.onWritable());
    setImmediate(() => waiting.shift()?.({ writer, res }));
  });
  const { port, close } = await listen(rt, app, '127.0.0.1', 0);
  t.teardown(close);
  return { port, next: () => new Promise((r) => waiting.push(r)) };
}

/** Opens the stream with a client that does not read yet. */
async function paused(port: number, srv: { next(): Promise<Stream> }): Promise<{ sock: Socket; stream: Stream }> {
  const sock = await openSocket(port);
  sock.pause();
  sock.write('GET /sse HTTP/1.1\r\nHost: t\r\n\r\n');
  return { sock, stream: await srv.next() };
}

t.test('a burst that fills the socket: once the client reads, every byte arrives without another write', async (t) => {
  const srv = await server(t);
  // 1. how many events go out before uWS first reports backpressure on this machine's loopback
  const probe = await paused(srv.port, srv);
  let k = 0;
  while (!probe.stream.writer.blocked && k < 100_000) {
    probe.stream.writer.push(EVENT);
    k++;
  }
  t.ok(probe.stream.writer.blocked, `backpressure after ${k} events of 8 KiB`);
  probe.sock.destroy();

  // 2. a fresh stream, one event fewer: every write returns true, and the last one's tail stays in uWS's buffer
  const { sock, stream } = await paused(srv.port, srv);
  for (let i = 0; i < k - 1; i++) stream.writer.push(EVENT);
  t.notOk(stream.writer.blocked, `${k - 1} events: uWS never said false`);
  t.ok(stream.writer.pending > 0, `the latest write counts as held (${stream.writer.pending} bytes) until proven sent`);
  let received = 0;
  const all = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      received += c.toString('latin1').split('data: ').length - 1;
      if (received >= k - 1) resolve();
    });
  });
  sock.resume();
  await within(all, 5000, `the client receiving all ${k - 1} events with no further write from the server (got ${received})`);
  t.equal(received, k - 1, 'every event arrived');
  t.ok(stream.writer.pending <= EVENT.length, `at most the latest write is still unproven (${stream.writer.pending} bytes): nothing else is held`);
  sock.destroy();
});
