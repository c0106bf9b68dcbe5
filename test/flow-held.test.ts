// A stream paused by a slow client, again and again, against a real upstream socket: what the upstream socket holds
// stays near one read (issue 13, slow clients), however many times the stream pauses and resumes.
import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Exchange } from '../workers/exchange.js';
import type { ExchangeContext } from '../workers/context.js';
import { ModelsCache } from '../workers/models-cache.js';
import { createUpstream } from '../workers/upstream.js';
import { READ_BYTES } from '../workers/connector.js';
import { creditLump, MirrorHealth, type FromWorker, type WorkerConfig } from '../workers/protocol.js';
import { workerConfig } from './helpers/fakes.js';

const BUDGET = 16_384; // STREAM_BUFFER_SIZE's default
const EVENT = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(1000)}"},"finish_reason":null}]}\n\n`;

/** An upstream that answers with an endless SSE stream of ~1 KB events, written as fast as its socket takes them. */
async function endlessUpstream(): Promise<{ port: number; close: () => void }> {
  const chunk = Buffer.from(`${Buffer.byteLength(EVENT).toString(16)}\r\n${EVENT}\r\n`.repeat(16));
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined).on('close', () => sockets.delete(s));
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function config(port: number): WorkerConfig {
  return workerConfig({ mirrors: [`http://127.0.0.1:${port}/v1`], retryDelayMs: 10, retryAfterCapMs: 1000, connectTimeoutMs: 5000, circuitResetMs: 10_000, maxUpstreamConnections: 4 });
}

t.test('a stream that pauses 300 times holds at most two reads at its upstream socket, not more each time', async (t) => {
  const up = await endlessUpstream();
  t.teardown(up.close);
  const cfg = config(up.port);
  const upstream = createUpstream(cfg);
  t.teardown(() => upstream.close());
  let socket: Socket | null = null;
  const onConnected = (m: unknown): void => {
    socket ??= (m as { socket: Socket }).socket;
  };
  subscribe('undici:client:connected', onConnected);
  t.teardown(() => unsubscribe('undici:client:connected', onConnected));

  // the client: takes every byte, but returns credit a lump at a time, a turn later (as the SSE writer does)
  const lump = creditLump(BUDGET);
  const grants = 300;
  let granted = 0;
  let received = 0;
  let owed = 0;
  let mostHeld = 0;
  let ex: Exchange | null = null;
  let done: () => void = () => undefined;
  const allUsed = new Promise<void>((resolve) => (done = resolve));
  const ctx: ExchangeContext = {
    config: cfg, health: new MirrorHealth(cfg.health, 1, 5, 10_000), dispatch: upstream.dispatch, models: new ModelsCache(0),
    flushSoon: () => undefined, finished: () => undefined,
    send: (m: FromWorker) => {
      if (m.t !== 'data') return;
      received += m.chunk.byteLength;
      if (socket) mostHeld = Math.max(mostHeld, socket.readableLength);
      owed += m.chunk.byteLength;
      while (owed >= lump && granted < grants) {
        owed -= lump;
        granted++;
        setImmediate(() => ex!.credit(lump));
      }
      if (received >= BUDGET + grants * lump) done();
    },
  };
  const body = new TextEncoder().encode(JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }));
  ex = new Exchange(ctx, { t: 'open', id: 1, kind: 'chat', body, reqId: 'r', traceparent: null, credit: BUDGET, limits: { firstByteMs: 0, idleMs: 0, totalMs: 0 } }, 'chat');
  ex.start();
  await allUsed;
  ex.abort();
  t.ok(socket !== null, 'the upstream socket was seen');
  t.equal(received, BUDGET + grants * lump, 'every byte of credit was used: the stream paused and resumed each time');
  // each resume spends a lump of credit; a read larger than that left more behind every time
  t.ok(READ_BYTES <= lump, `a read (${READ_BYTES} bytes) is at most a lump of credit (${lump})`);
  t.ok(mostHeld <= 2 * lump, `the upstream socket held at most ${mostHeld} bytes (two lumps: ${2 * lump})`);
});
