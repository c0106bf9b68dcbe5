// Upstream through a forward proxy (CONTRACT §7): HTTP_PROXY / HTTPS_PROXY / NO_PROXY as undici's EnvHttpProxyAgent
// reads them (lowercase first, no implicit exclusions), checked through a real CONNECT proxy started here.
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { ConfigError, proxySummary, redactProxyUrl } from '../src/config.js';
import { workerConfig } from '../src/service.js';
import { createAgent } from '../workers/upstream.js';
import { startStack, testConfig } from './helpers/harness.js';
import { startSimulator } from '../src/simulator/index.js';
import { startForwardProxy, type ForwardProxy } from './helpers/forward-proxy.js';
import { countLookups } from './helpers/dns-count.js';

const MSG = [{ role: 'user' as const, content: 'hi' }];
const basic = (userPass: string): string => `Basic ${Buffer.from(userPass).toString('base64')}`;

async function proxyFor(t: { teardown(fn: () => unknown): void }, requireAuth?: string): Promise<ForwardProxy> {
  const p = await startForwardProxy(requireAuth === undefined ? {} : { requireAuth });
  t.teardown(() => p.close());
  return p;
}

void t.test('config: proxy variables as undici reads them; bad values name the variable, never echo it', async (t) => {
  const c = testConfig({ HTTP_PROXY: 'http://upper:1', http_proxy: 'http://lower:2', HTTPS_PROXY: 'proxy.local:3128', NO_PROXY: 'a.example', no_proxy: 'b.example,.c.example' });
  t.equal(c.HTTP_PROXY, 'http://lower:2/', 'lowercase http_proxy wins, as in undici');
  t.equal(c.HTTPS_PROXY, 'http://proxy.local:3128/', 'no scheme: http:// assumed (as Go did)');
  t.equal(c.NO_PROXY, 'b.example,.c.example', 'lowercase no_proxy wins');
  t.same(
    { httpProxy: workerConfig(c).httpProxy, httpsProxy: workerConfig(c).httpsProxy, noProxy: workerConfig(c).noProxy },
    { httpProxy: 'http://lower:2/', httpsProxy: 'http://proxy.local:3128/', noProxy: 'b.example,.c.example' },
    'passed to the workers',
  );
  const none = testConfig();
  t.equal(proxySummary(none), null, 'no proxy set: none used');
  t.same([workerConfig(none).httpProxy, workerConfig(none).httpsProxy, workerConfig(none).noProxy], [null, null, null]);
  t.same(proxySummary(testConfig({ HTTP_PROXY: 'http://u:hunter2@p.local:8080' })), {
    http_proxy: 'http://p.local:8080/ (with credentials)',
    https_proxy: 'http://p.local:8080/ (with credentials)',
    no_proxy: null,
  }, 'credentials never shown; https traffic falls back to HTTP_PROXY (undici)');
  t.equal(redactProxyUrl('https://p.local:8443'), 'https://p.local:8443/');
  for (const [name, value, why] of [
    ['HTTP_PROXY', 'socks5://u:hunter2@p.local:1080', /socks proxies are not supported/],
    ['HTTPS_PROXY', 'http://u:hunter2@[not-an-ip', /is not a URL/],
    ['http_proxy', 'ftp://p.local', /"ftp:" is not http or https/],
  ] as const) {
    const err = (() => {
      try {
        testConfig({ [name]: value });
        return null;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof ConfigError, `${name}=${value.replace('hunter2', '***')}: refused at start`);
    const message = err instanceof Error ? err.message : '';
    t.match(message, new RegExp(name.toUpperCase()), 'the message names the variable');
    t.match(message, why);
    t.notMatch(message, /hunter2/, 'and does not echo the value');
  }
});

void t.test('HTTP_PROXY: stream and non-stream through the SDK, every upstream request tunnelled, credentials sent, never logged', async (t) => {
  const proxy = await proxyFor(t, basic('proxyuser:hunter2-secret'));
  const s = await startStack(t, { HTTP_PROXY: `http://proxyuser:hunter2-secret@127.0.0.1:${proxy.port}` });
  const reply = await s.client.chat.completions.create({ model: 'sim/echo;tokens=3', messages: MSG });
  t.equal(reply.choices[0]?.message.content, 'tok0 tok1 tok2 ');
  const stream = await s.client.chat.completions.create({ model: 'sim/echo;tokens=4', messages: MSG, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  t.equal(text, 'tok0 tok1 tok2 tok3 ');

  t.equal(s.sim.requests.length, 2, 'both reached the upstream');
  t.ok(proxy.tunnels.length >= 1, `through the proxy (${proxy.tunnels.length} tunnel(s), ${proxy.bytesDown()} bytes down)`);
  t.same([...new Set(proxy.tunnels)], [`127.0.0.1:${s.sim.port}`], 'CONNECT to the mirror, nothing else (an http mirror is tunnelled too)');
  t.ok(proxy.bytesDown() > 0);
  t.ok(proxy.auth.every((a) => a === basic('proxyuser:hunter2-secret')), 'Proxy-Authorization from the URL on every CONNECT');
  t.notOk(s.sim.requests.some((r) => r.headers['proxy-authorization'] !== undefined), 'the upstream never sees the proxy credentials');
  const line = s.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('upstream requests go through a forward proxy'));
  t.same(line?.proxy, {
    http_proxy: `http://127.0.0.1:${proxy.port}/ (with credentials)`,
    https_proxy: `http://127.0.0.1:${proxy.port}/ (with credentials)`,
    no_proxy: null,
  }, 'the start log says which proxy, without credentials');
  t.notMatch(s.rawLogs(), /hunter2/, 'the password appears in no log line');
});

void t.test('a proxy named by host name (localhost): its name is resolved once for a burst of tunnels', async (t) => {
  const proxy = await proxyFor(t);
  const lookups = countLookups(t, 'localhost');
  const s = await startStack(t, { HTTP_PROXY: `http://localhost:${proxy.port}`, POOL_SIZE: '0' });
  // the upstream waits 100 ms before each answer, so 12 at once need 12 tunnels, each a new connection to the proxy
  const replies = await Promise.all(Array.from({ length: 12 }, () => s.client.chat.completions.create({ model: 'sim/echo;tokens=2;delay=100', messages: MSG })));
  t.ok(replies.every((r) => r.choices[0]?.message.content === 'tok0 tok1 '), '12 concurrent completions through the proxy');
  t.ok(proxy.tunnels.length >= 10, `${proxy.tunnels.length} tunnels`);
  t.equal(lookups(), 1, 'the proxy\'s name was resolved once for all of them');
});

void t.test('NO_PROXY: a listed host bypasses the proxy (no implicit exclusions: loopback is proxied unless listed)', async (t) => {
  const proxy = await proxyFor(t);
  for (const noProxy of ['127.0.0.1', 'localhost,127.0.0.1', '*']) {
    const s = await startStack(t, { HTTP_PROXY: proxy.url, NO_PROXY: noProxy, POOL_SIZE: '0' });
    const reply = await s.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: MSG });
    t.equal(reply.choices[0]?.message.content, 'tok0 tok1 ', `NO_PROXY=${noProxy}: answered`);
    t.equal(s.sim.requests.length, 1);
  }
  t.equal(proxy.tunnels.length, 0, 'none of them went through the proxy');
  const s = await startStack(t, { http_proxy: proxy.url, NO_PROXY: 'other.example', POOL_SIZE: '0' });
  await s.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: MSG });
  t.equal(proxy.tunnels.length, 1, 'a NO_PROXY that does not list the mirror: proxied (and only that one)');
  t.equal(proxy.tunnels[0], `127.0.0.1:${s.sim.port}`);
});

void t.test('HTTPS_PROXY carries https mirrors, HTTP_PROXY http ones, in one request with failover', async (t) => {
  const forHttp = await proxyFor(t);
  const forHttps = await proxyFor(t);
  // the https mirror is a name that resolves nowhere: the proxy records the CONNECT and refuses it (502), so nothing
  // leaves the machine; the retry goes to the next mirror, the simulator, through the other proxy
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const s2 = await startStack(t, { HTTP_PROXY: forHttp.url, HTTPS_PROXY: forHttps.url, MAX_RETRIES: '1', RETRY_DELAY: '0', POOL_SIZE: '1' }, {
    sim,
    mirrors: `https://mirror.invalid/v1/openai,${sim.baseUrl}`,
  });
  const reply = await s2.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: MSG });
  t.equal(reply.choices[0]?.message.content, 'tok0 tok1 ', 'answered by the second mirror');
  t.same(forHttps.tunnels, ['mirror.invalid:443'], 'the https mirror was asked for through HTTPS_PROXY');
  t.same(forHttp.tunnels, [`127.0.0.1:${sim.port}`], 'the http mirror through HTTP_PROXY');

  // HTTPS_PROXY alone does not carry http mirrors (undici: it applies to https: origins only)
  const only = await proxyFor(t);
  const s3 = await startStack(t, { HTTPS_PROXY: only.url, POOL_SIZE: '0' });
  await s3.client.chat.completions.create({ model: 'sim/echo;tokens=1', messages: MSG });
  t.equal(only.tunnels.length, 0, 'HTTPS_PROXY alone: an http mirror is reached directly');
  t.equal(s3.sim.requests.length, 1);
});

void t.test('a proxy that refuses the tunnel: 502 upstream error before the first byte, the service goes on', async (t) => {
  const proxy = await proxyFor(t, basic('right:password'));
  const s = await startStack(t, { HTTP_PROXY: `http://wrong:password@127.0.0.1:${proxy.port}`, MAX_RETRIES: '0', POOL_SIZE: '0' });
  const err = await s.client.chat.completions.create({ model: 'sim/echo', messages: MSG }).then(() => null, (e: unknown) => e);
  t.match(err, { status: 502 }, '407 from the proxy: 502 to the client');
  t.equal(s.sim.requests.length, 0, 'nothing reached the upstream');
  t.equal(proxy.tunnels.length, 1);
  const health = await fetch(`${s.origin}/health`);
  t.equal(health.status, 200);
});

void t.test('createAgent through a proxy keeps the per-origin connection cap (maxUpstreamConnections)', async (t) => {
  const proxy = await proxyFor(t);
  const held: ServerResponse[] = [];
  const upstream = createServer((_req, res) => {
    held.push(res);
    upstream.emit('held', held.length);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.teardown(() => new Promise((r) => upstream.close(r)));
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const waitHeld = async (n: number): Promise<void> => {
    while (held.length < n) await once(upstream, 'held');
  };
  const agent = createAgent({ ...workerConfig(testConfig({ HTTP_PROXY: proxy.url })), maxUpstreamConnections: 2 });
  t.teardown(() => agent.close());
  const requests = [0, 1, 2].map((i) => agent.request({ origin, path: `/${i}`, method: 'GET' }).then(async (r) => (await r.body.text(), r.statusCode)));
  await waitHeld(2);
  t.equal(proxy.tunnels.length, 2, 'two requests, two tunnels');
  held[0]!.end('a');
  await waitHeld(3);
  t.equal(proxy.tunnels.length, 2, 'the third waited for a free connection and reused its tunnel: the cap holds');
  held[1]!.end('b');
  held[2]!.end('c');
  t.same(await Promise.all(requests), [200, 200, 200]);
});

void t.test('through a proxy, a request aborted in flight does not open another tunnel (nodejs/undici#5845)', async (t) => {
  const proxy = await proxyFor(t);
  const held: ServerResponse[] = [];
  const holding = createServer((_req, res) => {
    res.write('first bytes');
    held.push(res);
  });
  const plain = createServer((_req, res) => res.end('ok'));
  for (const s of [holding, plain]) {
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
  }
  t.teardown(() => Promise.all([holding, plain].map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))));
  const target = (s: typeof plain): string => `127.0.0.1:${(s.address() as AddressInfo).port}`;
  const agent = createAgent(workerConfig(testConfig({ HTTP_PROXY: proxy.url })));
  t.teardown(() => agent.close());
  const ac = new AbortController();
  const r = await agent.request({ origin: `http://${target(holding)}`, path: '/hold', method: 'GET', signal: ac.signal });
  const gone = once(held[0]!, 'close');
  ac.abort();
  await t.rejects(r.body.text(), /abort/i, 'the reader sees the abort');
  await gone;
  // a tunnel reopened for the aborted request would be asked for before this one
  const after = await agent.request({ origin: `http://${target(plain)}`, path: '/', method: 'GET' });
  t.equal(await after.body.text(), 'ok');
  t.same(proxy.tunnels, [target(holding), target(plain)], 'one tunnel for the aborted request, one for the next: none reopened');
});

void t.test('a proxy that never answers CONNECT fails the attempt at CONNECT_TIMEOUT, not after minutes', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createNetServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => silent.close(r));
  });
  const port = (silent.address() as AddressInfo).port;
  const agent = createAgent({ ...workerConfig(testConfig({ HTTP_PROXY: `http://127.0.0.1:${port}` })), connectTimeoutMs: 300 });
  t.teardown(() => agent.destroy());
  const t0 = performance.now();
  const err = await agent.request({ origin: 'http://127.0.0.1:9', path: '/', method: 'GET', headersTimeout: 60_000 }).then(() => null, (e: unknown) => e);
  const ms = performance.now() - t0;
  t.ok(err instanceof Error, `failed: ${(err as Error | null)?.message ?? 'no error'} (${(err as { code?: string } | null)?.code ?? ''})`);
  t.ok(ms < 5_000, `within a few CONNECT_TIMEOUTs (${Math.round(ms)} ms)`);
});
