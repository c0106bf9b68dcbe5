// Upstream host names (workers/dns-cache.ts, workers/connector.ts): a burst of new connections to a named mirror
// resolves the name once; the answer is reused for DNS_TTL_MS; failures are not kept; a refused connection makes
// the name be resolved again. Then a named mirror end to end, through the SDK.
import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { cachedLookup, DNS_TTL_MS, type LookupAll } from '../workers/dns-cache.js';
import { boundedConnector } from '../workers/connector.js';
import { startStack } from './helpers/harness.js';
import { countLookups } from './helpers/dns-count.js';

type Address = { address: string; family: number };

/** A resolver that answers only when told to, and counts the lookups it was asked for. */
function manualResolver(table: Record<string, Address[]>): { lookup: LookupAll; calls: string[]; answerAll(): void } {
  const calls: string[] = [];
  let pending: (() => void)[] = [];
  const lookup: LookupAll = (hostname, _options, cb) => {
    calls.push(hostname);
    pending.push(() => {
      const a = table[hostname];
      if (a) cb(null, a);
      else cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    });
  };
  return { lookup, calls, answerAll: () => { const p = pending; pending = []; for (const f of p) f(); } };
}

type Got = { err: NodeJS.ErrnoException | null; address: string | Address[]; family: number | undefined };
const ask = (l: ReturnType<typeof cachedLookup>, host: string, all: boolean): Promise<Got> =>
  new Promise((resolve) => l(host, { all, family: 0, hints: 0 }, (err, address, family) => resolve({ err, address, family })));

t.test('concurrent lookups of one name share one resolution; its answer is reused until the TTL', async (t) => {
  let clock = 0;
  const r = manualResolver({ 'api.example': [{ address: '10.1.2.3', family: 4 }, { address: '10.1.2.4', family: 4 }] });
  const l = cachedLookup(DNS_TTL_MS, r.lookup, () => clock);
  const answers = Array.from({ length: 50 }, (_, i) => ask(l, 'api.example', i % 2 === 0));
  t.equal(r.calls.length, 1, '50 connections at once: one lookup');
  r.answerAll();
  const got = await Promise.all(answers);
  t.ok(got.every((g) => g.err === null), 'every connection got an answer');
  t.same(got[0]?.address, [{ address: '10.1.2.3', family: 4 }, { address: '10.1.2.4', family: 4 }], 'all: every address (autoSelectFamily asks so)');
  t.same([got[1]?.address, got[1]?.family], ['10.1.2.3', 4], 'one: the first address and its family');
  clock += DNS_TTL_MS - 1;
  t.same((await ask(l, 'api.example', false)).address, '10.1.2.3', 'within the TTL: from the cache');
  t.equal(r.calls.length, 1, 'without a lookup');
  clock += 2;
  const later = ask(l, 'api.example', false);
  t.equal(r.calls.length, 2, 'past the TTL: resolved again');
  r.answerAll();
  t.equal((await later).err, null);
});

t.test('a failed lookup reaches every waiting connection and is not kept', async (t) => {
  const r = manualResolver({});
  const l = cachedLookup(DNS_TTL_MS, r.lookup, () => 0);
  const waiting = [ask(l, 'nowhere.example', true), ask(l, 'nowhere.example', false)];
  r.answerAll();
  const got = await Promise.all(waiting);
  t.ok(got.every((g) => g.err?.code === 'ENOTFOUND'), 'both get ENOTFOUND');
  const again = ask(l, 'nowhere.example', false);
  t.equal(r.calls.length, 2, 'the next connection asks again');
  r.answerAll();
  t.equal((await again).err?.code, 'ENOTFOUND');
});

t.test('the connector: 30 new connections to a named upstream resolve it once; a refused one makes it resolve again', async (t) => {
  const server = createServer((s) => s.on('error', () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const calls: string[] = [];
  const lookup: LookupAll = (hostname, _o, cb) => {
    calls.push(hostname);
    setImmediate(() => cb(null, [{ address: '127.0.0.1', family: 4 }]));
  };
  const connector = boundedConnector(5_000, cachedLookup(DNS_TTL_MS, lookup));
  const connect = (): Promise<Socket> => new Promise((resolve, reject) => {
    connector({ hostname: 'upstream.example', host: `upstream.example:${port}`, protocol: 'http:', port: String(port), servername: undefined, localAddress: null, httpSocket: undefined }, (err, socket) => {
      if (err) reject(err);
      else resolve(socket as Socket);
    });
  });
  const sockets = await Promise.all(Array.from({ length: 30 }, connect));
  t.equal(sockets.length, 30, 'all 30 connected');
  t.same(calls, ['upstream.example'], 'one lookup for all of them');
  for (const s of sockets) s.destroy();
  server.close();
  await once(server, 'close');
  await t.rejects(connect(), { code: 'ECONNREFUSED' }, 'the upstream is gone: refused');
  t.equal(calls.length, 1, 'that connection still used the cached answer');
  await t.rejects(connect(), { code: 'ECONNREFUSED' });
  t.equal(calls.length, 2, 'the refusal made the next connection resolve the name again');
});

t.test('a mirror named by host name (localhost): 20 concurrent new connections, one lookup; completions and streams', async (t) => {
  const { startSimulator } = await import('../src/simulator/index.js');
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const named = sim.baseUrl.replace('127.0.0.1', 'localhost');
  t.not(named, sim.baseUrl, `the mirror is ${named}`);
  const lookups = countLookups(t, 'localhost');
  const { client } = await startStack(t, { POOL_SIZE: '0' }, { sim, mirrors: named });
  // the upstream waits 100 ms before each answer, so the 20 need 20 connections at once
  const many = await Promise.all(Array.from({ length: 20 }, () => client.chat.completions.create({ model: 'sim/echo;tokens=2;delay=100', messages: [{ role: 'user', content: 'hi' }] })));
  t.ok(many.every((c) => typeof c.choices[0]?.message.content === 'string'), '20 concurrent completions answered');
  t.ok(sim.stats.connections >= 10, `over ${sim.stats.connections} upstream connections`);
  t.equal(lookups(), 1, 'the name was resolved once for all of them');
  const stream = await client.chat.completions.create({ model: 'sim/echo', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let chunks = 0;
  for await (const c of stream) if (c.choices.length > 0) chunks++;
  t.ok(chunks > 0, `a stream through it (${chunks} chunks)`);
});
