// A stream paused by a slow client, again and again, against a real upstream socket (plain, TLS, and plain through an
// HTTP proxy): what the upstream socket holds stays bounded (issue 13, slow clients), however often the stream pauses.
import t from 'tap';
import type { Socket } from 'node:net';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Exchange } from '../workers/exchange.js';
import type { ExchangeContext } from '../workers/context.js';
import { ModelsCache } from '../workers/models-cache.js';
import { createUpstream } from '../workers/upstream.js';
import { creditLump, MirrorHealth, type FromWorker, type WorkerConfig } from '../workers/protocol.js';
import { workerConfig } from './helpers/fakes.js';
import { startForwardProxy } from './helpers/forward-proxy.js';
import { ENDLESS_EVENT, startEndless } from '../perf/lib/endless.js';

const BUDGET = 16_384; // STREAM_BUFFER_SIZE's default

// undici's TLS connector verifies the mirror's certificate against Node's CA list; this test's mirror is self-signed
// (a throwaway certificate made for these tests only: test/fixtures/README.md)
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

function config(port: number, secure: boolean, httpProxy: string | null): WorkerConfig {
  return workerConfig({ mirrors: [`${secure ? 'https' : 'http'}://127.0.0.1:${port}/v1`], httpProxy, retryDelayMs: 10, retryAfterCapMs: 1000, connectTimeoutMs: 5000, circuitResetMs: 10_000, maxUpstreamConnections: 4 });
}

/** One event as this upstream sends it: its chunk-size line, the event, the chunk's end. */
const ONE_EVENT = Buffer.byteLength(ENDLESS_EVENT).toString(16).length + 2 + Buffer.byteLength(ENDLESS_EVENT) + 2;

/**
 * The most its socket may hold. A plain mirror's socket reads no more than the stream's credit leaves
 * (workers/connector.ts, boundReads): what it holds is what undici put back when the credit ran out inside a read,
 * less than one event (an event completed by this read uses credit for the bytes an earlier read brought too).
 * Before that bound it held a read (READ_BYTES, 8 KB) when the stream paused. Other sockets read on
 * until they hold their high-water mark (undici's: 16 KB for TLS, 64 KB for a plain socket, here a tunnel through
 * an HTTP proxy) and one network read more (up to 64 KB off the wire; for TLS, plus the end of a 16 KB record the
 * read before began). None asks for more until what it holds has been taken: without that rule each resume added
 * a read, two reads held on a plain socket and 7-10 MB on the others after these 300 pauses.
 */
const MOST_HELD = { plain: ONE_EVENT, TLS: 16 * 1024 + 64 * 1024 + 16 * 1024, 'proxied plain': 64 * 1024 + 64 * 1024 };

for (const kind of ['plain', 'TLS', 'proxied plain'] as const)
  t.test(`a stream that pauses 300 times holds at most ${MOST_HELD[kind]} bytes at its ${kind} upstream socket, not more each time`, async (t) => {
    const secure = kind === 'TLS';
    const up = await startEndless(secure);
    t.teardown(up.close);
    let httpProxy: string | null = null;
    if (kind === 'proxied plain') {
      const proxy = await startForwardProxy();
      t.teardown(() => proxy.close());
      httpProxy = proxy.url;
    }
    const cfg = config(up.port, secure, httpProxy);
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
    const pauses = 300;
    let credit = BUDGET;
    let paused = 0;
    let received = 0;
    let owed = 0;
    let mostHeld = 0;
    let mostWaiting = 0;
    let leastCredit = credit;
    let ex: Exchange | null = null;
    let done: () => void = () => undefined;
    const pausedEnough = new Promise<void>((resolve) => (done = resolve));
    const grant = (): void => {
      credit += lump;
      ex!.credit(lump);
    };
    const ctx: ExchangeContext = {
      config: cfg, health: new MirrorHealth(cfg.health, 1, 5, 10_000), dispatch: upstream.dispatch, models: new ModelsCache(0),
      // called when the credit ran out (the upstream paused): what waits for credit then
      flushSoon: () => void (mostWaiting = Math.max(mostWaiting, ex!.waiting)), finished: () => undefined,
      send: (m: FromWorker) => {
        if (m.t !== 'data') return;
        const n = m.chunk.byteLength;
        received += n;
        credit -= n;
        leastCredit = Math.min(leastCredit, credit);
        if (socket) mostHeld = Math.max(mostHeld, socket.readableLength);
        if (credit === 0 && ++paused === pauses) done(); // out of credit: the upstream pauses until a grant
        for (owed += n; owed >= lump; owed -= lump) setImmediate(grant);
      },
    };
    const body = new TextEncoder().encode(JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }));
    ex = new Exchange(ctx, { t: 'open', id: 1, kind: 'chat', body, reqId: 'r', traceparent: null, credit: BUDGET, limits: { firstByteMs: 0, idleMs: 0, totalMs: 0 } }, 'chat');
    ex.start();
    await pausedEnough;
    ex.abort();
    t.ok(socket !== null, 'the upstream socket was seen');
    t.equal(leastCredit, 0, 'the worker never sent beyond its credit');
    t.equal(paused, pauses, `the stream used up its credit and waited ${pauses} times (${received} bytes)`);
    t.ok(mostHeld <= MOST_HELD[kind], `the upstream socket held at most ${mostHeld} bytes (bound: ${MOST_HELD[kind]})`);
    // what the worker relayed beyond the credit waits for it: here less than an event (undici hands this upstream's
    // body on one HTTP chunk, one event, at a time, and stops at the first the credit cannot take)
    t.ok(mostWaiting <= ONE_EVENT, `the worker held at most ${mostWaiting} bytes beyond its credit (bound: ${ONE_EVENT})`);
  });
