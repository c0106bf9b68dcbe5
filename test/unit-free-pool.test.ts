// The upstream connection pool (issue 13): a free connection is reused, new ones open only while all are busy, the
// cap queues requests in arrival order, a connection that fails is replaced, close waits and destroy fails what waits.
import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { Client, request, type Dispatcher } from 'undici';
import { FreeListPool } from '../workers/free-pool.js';
import { createAgent } from '../workers/upstream.js';
import { testConfig, within } from './helpers/harness.js';
import { workerConfig } from '../src/service.js';

interface Upstream {
  readonly url: string;
  readonly server: Server;
  /** Connections accepted so far. */
  connections: number;
  /** Most requests in progress at once. */
  maxActive: number;
  /** Paths in the order requests arrived. */
  readonly arrived: string[];
  /** Requests held open until released (path /hold/...). */
  readonly held: ServerResponse[];
  /** Resolves the next time a request arrives. */
  next(): Promise<void>;
}

async function upstream(handler?: (req: IncomingMessage, res: ServerResponse, u: Upstream) => void): Promise<Upstream> {
  let active = 0;
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    active++;
    u.maxActive = Math.max(u.maxActive, active);
    res.on('close', () => active--);
    u.arrived.push(req.url ?? '');
    for (const w of waiters.splice(0)) w();
    if (handler) return handler(req, res, u);
    if (req.url?.startsWith('/hold/')) return void u.held.push(res);
    res.end(`ok ${req.url ?? ''}`);
  });
  server.on('connection', () => u.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const u: Upstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server, connections: 0, maxActive: 0, arrived: [], held: [],
    next: () => new Promise((r) => waiters.push(r)),
  };
  return u;
}

const get = async (pool: FreeListPool, u: Upstream, path: string): Promise<string> => {
  const r = await request(`${u.url}${path}`, { dispatcher: pool });
  return r.body.text();
};

t.test('a connection freed by one request carries the next: requests in sequence do not open one each', async (t) => {
  const u = await upstream();
  const pool = new FreeListPool(u.url, { connections: 10, pipelining: 1 });
  t.teardown(async () => { await pool.close(); u.server.close(); });
  for (let i = 0; i < 10; i++) t.equal(await get(pool, u, `/s${i}`), `ok /s${i}`);
  // undici reports a connection free on the next tick, so a request sent right after the previous response may
  // open a second one (undici's own Pool does the same); from then on the two take turns
  t.ok(u.connections <= 2, `10 requests in sequence, ${u.connections} connection(s)`);
  t.equal(pool.size, u.connections);
});

t.test('busy connections are not shared: one per request in flight', async (t) => {
  const u = await upstream();
  const pool = new FreeListPool(u.url, { connections: 0, pipelining: 1 });
  t.teardown(async () => { await pool.close(); u.server.close(); });
  const first = Array.from({ length: 6 }, (_, i) => get(pool, u, `/hold/${i}`));
  while (u.held.length < 6) await u.next();
  t.equal(u.connections, 6, 'six requests in flight, six connections');
  for (const res of u.held.splice(0)) res.end('held');
  t.same(await Promise.all(first), Array(6).fill('held'));
});

t.test('at the connection cap requests wait, and get a connection in the order they came', async (t) => {
  const u = await upstream();
  const pool = new FreeListPool(u.url, { connections: 2, pipelining: 1 });
  t.teardown(async () => { await pool.close(); u.server.close(); });
  const holding = [get(pool, u, '/hold/a'), get(pool, u, '/hold/b')];
  while (u.held.length < 2) await u.next();
  const waiting = ['/w1', '/w2', '/w3', '/w4'].map((p) => get(pool, u, p));
  t.equal(pool.queued, 4, 'four requests wait for a connection');
  for (const res of u.held.splice(0)) res.end('done');
  t.same(await Promise.all([...holding, ...waiting]), ['done', 'done', 'ok /w1', 'ok /w2', 'ok /w3', 'ok /w4']);
  t.same(u.arrived.slice(2), ['/w1', '/w2', '/w3', '/w4'], 'served in arrival order');
  t.equal(u.connections, 2, 'never more than the cap');
  t.equal(u.maxActive, 2);
  t.equal(pool.queued, 0);
});

t.test('a connection the upstream drops fails its request; the next request gets a working connection', async (t) => {
  let dropped = false;
  const u = await upstream((req, res) => {
    if (!dropped) {
      dropped = true;
      return req.socket.destroy();
    }
    res.end('fine');
  });
  const pool = new FreeListPool(u.url, { connections: 4, pipelining: 1 });
  t.teardown(async () => { await pool.close(); u.server.close(); });
  await t.rejects(get(pool, u, '/x'), /other side closed|socket/i, 'the dropped request fails');
  t.equal(await get(pool, u, '/y'), 'fine');
});

t.test('a request waiting at the cap is not stranded when a connection cannot be opened', async (t) => {
  const u = await upstream();
  const url = u.url;
  await new Promise<void>((r) => u.server.close(() => r())); // nothing listens there any more
  const pool = new FreeListPool(url, { connections: 1, pipelining: 1 });
  t.teardown(() => pool.destroy());
  const results = await Promise.allSettled([request(`${url}/a`, { dispatcher: pool }), request(`${url}/b`, { dispatcher: pool })]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected'], 'both fail (ECONNREFUSED), none hangs');
});

t.test('close waits for requests in flight; destroy fails the waiting ones', async (t) => {
  const u = await upstream();
  t.teardown(() => u.server.close());
  const pool = new FreeListPool(u.url, { connections: 1, pipelining: 1 });
  const inFlight = get(pool, u, '/hold/1');
  await u.next();
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  await t.rejects(get(pool, u, '/late'), /closed/, 'no new request after close');
  t.notOk(closed, 'not closed while a request is in flight');
  u.held.shift()!.end('last');
  t.equal(await inFlight, 'last');
  await closing;
  t.ok(closed);

  const u2 = await upstream();
  t.teardown(() => u2.server.close());
  const pool2 = new FreeListPool(u2.url, { connections: 1, pipelining: 1 });
  const busy = request(`${u2.url}/hold/1`, { dispatcher: pool2 });
  await u2.next();
  const waiting = request(`${u2.url}/queued`, { dispatcher: pool2 });
  t.equal(pool2.queued, 1);
  const failed = [t.rejects(waiting, /going away/, 'the waiting request fails with the reason'), t.rejects(busy, 'the one in flight too')];
  await pool2.destroy(new Error('going away'));
  await Promise.all(failed);
  u2.held.forEach((r) => (r.socket as Socket | null)?.destroy());
});

/** A request the upstream holds, aborted once its first bytes arrived; resolves with what its reader got once the upstream saw it close. */
async function abortInFlight(u: Upstream, dispatcher: Dispatcher): Promise<Error | null> {
  const ac = new AbortController();
  const inFlight = request(`${u.url}/hold/1`, { dispatcher, signal: ac.signal });
  await u.next();
  const res = u.held.shift()!;
  res.write('first bytes');
  const r = await inFlight;
  const gone = once(res, 'close');
  ac.abort();
  const err = await r.body.text().then(() => null, (e: Error) => e);
  await gone;
  return err;
}

t.test('a request aborted in flight does not make its connection open another (nodejs/undici#5845)', async (t) => {
  const u = await upstream();
  const pool = new FreeListPool(u.url, { connections: 0, pipelining: 1 });
  const other = new Client(u.url);
  t.teardown(async () => { await pool.destroy(); await other.destroy(); u.server.close(); });
  const disconnected = once(pool, 'disconnect');
  t.match((await abortInFlight(u, pool))?.message, /abort/i, 'the reader sees the abort');
  const [, , err] = (await disconnected) as [URL, unknown, Error & { code?: string }];
  t.equal(err.code, 'UND_ERR_INFO', "undici's reason for the closed socket: the abort");
  // A connect made on that close would have been sent before this request's: the upstream counts it first.
  const r2 = await request(`${u.url}/after`, { dispatcher: other });
  t.equal(await r2.body.text(), 'ok /after');
  t.equal(u.connections, 2, 'the aborted request and the request after it: no third connection was opened');
  t.equal(await get(pool, u, '/again'), 'ok /again', 'the pool still serves requests');
});

t.test("an origin whose last connection was aborted: the Agent closes that origin's pool, and the close completes", async (t) => {
  const u = await upstream();
  const agent = createAgent(workerConfig(testConfig({})));
  t.teardown(async () => { await agent.close(); u.server.close(); });
  const closing: Promise<void>[] = [];
  const orig = FreeListPool.prototype.close;
  FreeListPool.prototype.close = function (this: FreeListPool) {
    const p = (orig as (this: FreeListPool) => Promise<void>).call(this);
    closing.push(p);
    return p;
  } as typeof orig;
  t.teardown(() => (FreeListPool.prototype.close = orig));
  t.match((await abortInFlight(u, agent))?.message, /abort/i);
  t.equal(closing.length, 1, 'the Agent closed the pool of the origin with no connection left');
  await within(Promise.all(closing), 5000, 'the pool closing');
  const again = await request(`${u.url}/again`, { dispatcher: agent });
  t.equal(await again.body.text(), 'ok /again', 'the next request to that origin is served (by a new pool)');
});

t.test("the service's upstream agent uses this pool for plain-HTTP mirrors", async (t) => {
  const u = await upstream();
  const agent = createAgent(workerConfig(testConfig({})));
  t.teardown(async () => { await agent.close(); u.server.close(); });
  let used = 0;
  const orig = FreeListPool.prototype.dispatch;
  FreeListPool.prototype.dispatch = function (this: FreeListPool, ...a: Parameters<typeof orig>) {
    used++;
    return orig.apply(this, a);
  };
  t.teardown(() => (FreeListPool.prototype.dispatch = orig));
  const r = await request(`${u.url}/via-agent`, { dispatcher: agent });
  t.equal(await r.body.text(), 'ok /via-agent');
  t.equal(used, 1);
});
