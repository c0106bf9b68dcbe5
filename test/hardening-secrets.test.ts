// Hardening (§3, §7): keys, prompts, completions, upstream error bodies and tokens never reach the logs, the upstream
// (client credentials) or the monitoring routes, even at debug level with detailed logging on.
import t from 'tap';
import { startStack, chat, idle } from './helpers/harness.js';
import { rawHttp, post } from './helpers/raw.js';
import { head } from './helpers/hostile.js';
import { SECRET_ECHO } from '../src/simulator/index.js';

const CLIENT_KEY = 'sk-client-CANARY-7f3a91';
const WRONG_KEY = 'sk-wrong-CANARY-b20c44';
const UPSTREAM_KEY = 'di-upstream-CANARY-55e1d0';
const STATUS_TOKEN = 'status-CANARY-token-9c1';
const PROMPT = 'prompt-CANARY-do-not-log-4711';
const HEADER_CANARY = 'header-CANARY-x19';
const COOKIE_CANARY = 'cookie-CANARY-q07';
const ENV_CANARY = 'env-CANARY-value-3d2';

/** The headers the upstream client may send (workers/upstream.ts), plus what undici adds itself. */
const UPSTREAM_HEADERS = new Set(['accept', 'accept-encoding', 'user-agent', 'x-request-id', 'content-type', 'authorization', 'host', 'content-length', 'connection']);

const ENV = {
  VALID_API_KEYS: `other-key-000,${CLIENT_KEY}`,
  DEEPINFRA_API_KEY: UPSTREAM_KEY,
  STATUS_TOKEN,
  LOG_LEVEL: 'debug',
  ENABLE_DETAILED_LOGGING: 'true',
  MAX_RETRIES: '0',
};

void t.test('a representative slice of traffic leaves no secret in the logs and no client credential upstream', async (t) => {
  const s = await startStack(t, ENV);
  const port = s.service.port;
  const extra = `X-Secret-Header: ${HEADER_CANARY}\r\nCookie: session=${COOKIE_CANARY}\r\nX-Forwarded-For: 10.0.0.1\r\nOpenAI-Organization: org-${HEADER_CANARY}\r\n`;
  const ask = (path: string, body: unknown, key = CLIENT_KEY): Promise<Awaited<ReturnType<typeof rawHttp>>> =>
    rawHttp(port, post(path, typeof body === 'string' ? body : JSON.stringify(body), key, extra));
  const echo = `echo:${PROMPT}`;

  const results: Record<string, number> = {};
  results.stream = (await ask('/v1/chat/completions', chat('sim/echo', { stream: true, messages: [{ role: 'user', content: echo }] }))).status;
  results.nonStream = (await ask('/v1/chat/completions', chat('sim/echo', { messages: [{ role: 'user', content: echo }] }))).status;
  results.reasoning = (await ask('/v1/chat/completions', chat('sim/reasoning', { stream: true, messages: [{ role: 'user', content: PROMPT }] }))).status;
  results.completions = (await ask('/v1/completions', { model: 'sim/echo', prompt: echo })).status;
  results.embeddings = (await ask('/v1/embeddings', { model: 'sim/echo', input: PROMPT })).status;
  results.upstream400 = (await ask('/v1/chat/completions', chat('sim/error400', { messages: [{ role: 'user', content: PROMPT }] }))).status;
  results.upstream500 = (await ask('/v1/chat/completions', chat('sim/error500', { messages: [{ role: 'user', content: PROMPT }] }))).status;
  const u401 = await ask('/v1/chat/completions', chat('sim/error401', { messages: [{ role: 'user', content: PROMPT }] }));
  results.upstream401 = u401.status;
  results.upstream403 = (await ask('/v1/chat/completions', chat('sim/error403', { stream: true, messages: [{ role: 'user', content: PROMPT }] }))).status;
  const badJson = await ask('/v1/chat/completions', `{"model":"sim/echo","messages":[{"role":"user","content":"${PROMPT}"}]`);
  results.invalidJson = badJson.status;
  results.invalidSchema = (await ask('/v1/chat/completions', { model: 'sim/echo', messages: PROMPT })).status;
  results.wrongKey = (await ask('/v1/chat/completions', chat('sim/echo', { messages: [{ role: 'user', content: PROMPT }] }), WRONG_KEY)).status;
  results.models = (await rawHttp(port, head('/v1/models', [`Authorization: Bearer ${CLIENT_KEY}`, 'Connection: close'], 'GET'))).status;
  await idle(s.service);

  t.same(results, {
    stream: 200, nonStream: 200, reasoning: 200, completions: 200, embeddings: 200, upstream400: 400, upstream500: 500,
    upstream401: 502, upstream403: 502, invalidJson: 400, invalidSchema: 400, wrongKey: 401, models: 200,
  }, 'the slice ran as intended');
  t.notMatch(u401.body, SECRET_ECHO, 'an upstream 401 body (echoing its key) never reaches the client');

  const logs = s.rawLogs();
  t.ok(s.logs.filter((l) => l.msg === 'request').length >= 12, 'request lines were logged at debug level');
  for (const [name, secret] of Object.entries({
    CLIENT_KEY, WRONG_KEY, UPSTREAM_KEY, STATUS_TOKEN, PROMPT, HEADER_CANARY, COOKIE_CANARY, SECRET_ECHO,
  })) {
    t.notOk(logs.includes(secret), `${name} is not in the logs`);
  }
  t.notMatch(logs, /Simulated bad request|Incorrect API key provided|not allowed to use this model/, 'upstream error bodies are not logged');

  t.ok(s.sim.requests.length >= 9, 'the upstream saw the valid requests');
  for (const rec of s.sim.requests) {
    t.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`, `${rec.path}: the upstream gets DEEPINFRA_API_KEY, never the client key`);
    const names = Object.keys(rec.headers).filter((h) => !UPSTREAM_HEADERS.has(h));
    t.same(names, [], `${rec.path}: no client header forwarded`);
    t.notOk(JSON.stringify(rec.headers).includes('CANARY-x19') || JSON.stringify(rec.headers).includes(COOKIE_CANARY), 'no canary header upstream');
  }
});

void t.test('/status, /metrics and /dashboard expose no key, token, URL secret or environment value', async (t) => {
  process.env.HARDENING_CANARY = ENV_CANARY;
  t.teardown(() => void delete process.env.HARDENING_CANARY);
  const s = await startStack(t, ENV);
  const port = s.service.port;
  // some traffic first, so every counter and label is populated
  await rawHttp(port, post('/v1/chat/completions', JSON.stringify(chat('sim/echo', { messages: [{ role: 'user', content: PROMPT }] })), CLIENT_KEY));
  await rawHttp(port, post('/v1/chat/completions', JSON.stringify(chat('sim/error401')), CLIENT_KEY));
  await rawHttp(port, post('/v1/chat/completions', '{}', WRONG_KEY));
  await idle(s.service);
  const auth = [`Authorization: Bearer ${STATUS_TOKEN}`, 'Connection: close'];
  const bodies: Record<string, string> = {};
  for (const path of ['/status', '/metrics', '/dashboard', '/health', '/ready']) {
    const r = await rawHttp(port, head(path, auth, 'GET'));
    t.equal(r.status, 200, `${path}: 200`);
    bodies[path] = r.raw;
  }
  const status = JSON.parse(bodies['/status']!.slice(bodies['/status']!.indexOf('\r\n\r\n') + 4)) as { total_requests: number };
  t.ok(status.total_requests >= 2, '/status counted the traffic');
  const simPath = new URL(s.sim.baseUrl).pathname;
  for (const [path, text] of Object.entries(bodies)) {
    for (const [name, secret] of Object.entries({ CLIENT_KEY, WRONG_KEY, UPSTREAM_KEY, STATUS_TOKEN, PROMPT, ENV_CANARY, SECRET_ECHO })) {
      t.notOk(text.includes(secret), `${path}: no ${name}`);
    }
    t.notOk(text.includes(simPath), `${path}: no upstream URL path`);
    t.notMatch(text, /DEEPINFRA_API_KEY|VALID_API_KEYS|STATUS_TOKEN/, `${path}: no secret setting names`);
  }
});
