// Hardening (§1, §3, §7): CORS off by default and exact when on; upstream URLs validated at start; redirects are errors.
import t from 'tap';
import { loadConfig, ConfigError } from '../src/config.js';
import { startStack, chat, KEY } from './helpers/harness.js';
import { rawHttp, post } from './helpers/raw.js';
import { head } from './helpers/hostile.js';

const BODY = JSON.stringify(chat('sim/echo'));
const ALLOWED = 'https://a.example';
const corsHeaders = (h: Record<string, string>): string[] => Object.keys(h).filter((k) => k.startsWith('access-control-'));

void t.test('CORS is off by default: no access-control-* headers anywhere, OPTIONS is a 405', async (t) => {
  const s = await startStack(t);
  const port = s.service.port;
  const origin = `Origin: ${ALLOWED}`;
  const rs = [
    await rawHttp(port, head('/health', [origin, 'Connection: close'], 'GET')),
    await rawHttp(port, post('/v1/chat/completions', BODY, KEY, `${origin}\r\n`)),
    await rawHttp(port, post('/v1/chat/completions', JSON.stringify(chat('sim/echo', { stream: true })), KEY, `${origin}\r\n`)),
    await rawHttp(port, post('/v1/chat/completions', BODY, 'wrong', `${origin}\r\n`)),
  ];
  t.same(rs.map((r) => r.status), [200, 200, 200, 401]);
  for (const r of rs) t.same(corsHeaders(r.headers), [], `${r.status}: no CORS headers`);
  const pre = await rawHttp(port, head('/v1/chat/completions', [origin, 'Access-Control-Request-Method: POST', 'Connection: close'], 'OPTIONS'));
  t.equal(pre.status, 405, 'preflight: 405');
  t.equal(pre.headers.allow, 'POST');
  t.same(corsHeaders(pre.headers), []);
});

void t.test('CORS_ORIGINS: only a listed origin is echoed, with Vary: Origin; preflight needs no key, no slot, no upstream', async (t) => {
  const s = await startStack(t, { CORS_ORIGINS: `${ALLOWED},http://localhost:3000` });
  const port = s.service.port;
  const good = `Origin: ${ALLOWED}`;
  const cases = {
    health: await rawHttp(port, head('/health', [good, 'Connection: close'], 'GET')),
    chat: await rawHttp(port, post('/v1/chat/completions', BODY, KEY, `${good}\r\n`)),
    stream: await rawHttp(port, post('/v1/chat/completions', JSON.stringify(chat('sim/echo', { stream: true })), KEY, `${good}\r\n`)),
    unauthorized: await rawHttp(port, post('/v1/chat/completions', BODY, 'wrong', `${good}\r\n`)),
    notFound: await rawHttp(port, head('/nope', [good, 'Connection: close'], 'GET')),
  };
  for (const [name, r] of Object.entries(cases)) {
    t.equal(r.headers['access-control-allow-origin'], ALLOWED, `${name}: origin echoed`);
    t.equal(r.headers.vary, 'Origin', `${name}: Vary: Origin`);
    t.notOk('access-control-allow-credentials' in r.headers, `${name}: no credentials mode`);
  }
  t.equal(cases.stream.headers['content-type'], 'text/event-stream; charset=utf-8');
  const second = await rawHttp(port, head('/health', ['Origin: http://localhost:3000', 'Connection: close'], 'GET'));
  t.equal(second.headers['access-control-allow-origin'], 'http://localhost:3000', 'every listed origin works');

  for (const origin of ['https://b.example', 'https://a.example.evil.com', 'http://a.example', 'https://a.example:443', 'https://A.EXAMPLE', 'null', '*']) {
    const r = await rawHttp(port, post('/v1/chat/completions', BODY, KEY, `Origin: ${origin}\r\n`));
    t.equal(r.status, 200);
    t.same(corsHeaders(r.headers), [], `${origin}: no CORS headers`);
    const pre = await rawHttp(port, head('/v1/chat/completions', [`Origin: ${origin}`, 'Connection: close'], 'OPTIONS'));
    t.equal(pre.status, 405, `${origin}: preflight refused (405)`);
  }

  const upstreamBefore = s.sim.requests.length;
  const totalBefore = s.service.state.counters.totalRequests;
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, s.service.state.admission.inFlight)), 1);
  const pres = await Promise.all(
    Array.from({ length: 50 }, () =>
      rawHttp(port, head('/v1/chat/completions', [good, 'Access-Control-Request-Method: POST', 'Access-Control-Request-Headers: authorization, content-type', 'Connection: close'], 'OPTIONS')),
    ),
  );
  clearInterval(sample);
  for (const pre of pres) {
    t.equal(pre.status, 204);
    t.equal(pre.headers['access-control-allow-origin'], ALLOWED);
    t.match(pre.headers['access-control-allow-headers'], /authorization/);
    t.match(pre.headers['access-control-allow-methods'], /POST/);
  }
  t.equal(peak, 0, 'preflights never took an admission slot');
  t.equal(s.service.state.counters.totalRequests, totalBefore, 'nor counted as proxied requests');
  t.equal(s.sim.requests.length, upstreamBefore, 'nor reached the upstream');
});

void t.test('upstream URLs are validated at start; plain http is allowed with a warning', async (t) => {
  const load = (mirrors: string): ReturnType<typeof loadConfig> => loadConfig({ DEEPINFRA_MIRRORS: mirrors, PORT: '0' }, '');
  const refused: Array<[string, RegExp]> = [
    ['ftp://api.example/v1', /not http or https/],
    ['file:///etc/passwd', /not http or https/],
    ['javascript:alert(1)', /not http or https/],
    ['https://user:PASSWORD-CANARY@api.example/v1', /user:password@/],
    ['https://:PASSWORD-CANARY@api.example/v1', /user:password@/],
    ['https://api.example/v1?key=PASSWORD-CANARY', /query or fragment/],
    ['https://api.example/v1#PASSWORD-CANARY', /query or fragment/],
    ['https://user:PASSWORD-CANARY@exa mple/v1', /not a URL/],
    ['api.example/v1', /not a URL/],
  ];
  for (const [url, why] of refused) {
    let err: unknown;
    try {
      load(url);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `${url}: refused`);
    const msg = (err as Error).message;
    t.match(msg, /DEEPINFRA_MIRRORS/, 'the message names the variable');
    t.match(msg, why, `because: ${why.source}`);
    t.notMatch(msg, /PASSWORD-CANARY/, 'and does not repeat the secret');
  }
  t.same(load('https://api.deepinfra.com/v1/openai').warnings, [], 'https: no warning');
  const plain = load('https://api.deepinfra.com/v1/openai,http://10.0.0.5:8080/v1/openai');
  t.equal(plain.warnings.length, 1, 'plain http: one warning');
  t.match(plain.warnings[0], /DEEPINFRA_MIRRORS\[1\].*10\.0\.0\.5:8080.*http/);
  t.equal(plain.DEEPINFRA_MIRRORS[1], 'http://10.0.0.5:8080/v1/openai', 'and the URL is kept');
});

void t.test('the upstream client never follows a redirect: 502 after exactly one upstream request', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '3' });
  for (const stream of [false, true]) {
    s.sim.reset();
    const r = await rawHttp(s.service.port, post('/v1/chat/completions', JSON.stringify(chat('sim/redirect', { stream })), KEY));
    t.equal(r.status, 502, `stream=${stream}: 502`);
    t.match(JSON.parse(r.body), { error: { code: 'upstream_redirect' } });
    t.notOk('location' in r.headers, 'the Location is not passed on');
    t.equal(s.sim.requests.length, 1, 'one upstream request, no retry, no follow');
  }
});
