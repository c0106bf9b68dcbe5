// Hardening (§1, §8): API-key and status-token checks against malformed, padded, duplicated and odd-length credentials.
import t from 'tap';
import { startStack, chat, idle, KEY } from './helpers/harness.js';
import { rawHttp, openSocket, post } from './helpers/raw.js';
import { closed, head } from './helpers/hostile.js';

const BODY = JSON.stringify(chat('sim/echo'));
const KEYS = [KEY, 'second-key-abcdef', 'x'];
const TOKEN = 'status-token-0123';

/** A chat request with exactly these Authorization lines (none, one or several). */
const withAuth = (lines: readonly string[], body = BODY): string =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n${lines.map((l) => `Authorization: ${l}\r\n`).join('')}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

void t.test('every configured key works, on every proxied route', async (t) => {
  const s = await startStack(t, { VALID_API_KEYS: KEYS.join(',') });
  for (const key of KEYS) {
    const r = await rawHttp(s.service.port, post('/v1/chat/completions', BODY, key));
    t.equal(r.status, 200, `key ${JSON.stringify(key.slice(0, 6))}… accepted`);
    const m = await rawHttp(s.service.port, head('/v1/models', [`Authorization: Bearer ${key}`, 'Connection: close'], 'GET'));
    t.equal(m.status, 200, 'and on /v1/models');
  }
  t.equal(s.sim.requests.filter((r) => r.path.endsWith('/chat/completions')).length, KEYS.length, 'each chat reached the upstream');
});

void t.test('malformed, padded and wrong credentials: 401 before the upstream; harmless padding accepted', async (t) => {
  const s = await startStack(t, { VALID_API_KEYS: KEYS.join(',') });
  const port = s.service.port;
  const refused: Array<[string, readonly string[]]> = [
    ['no Authorization header', []],
    ['Basic scheme', [`Basic ${Buffer.from(`user:${KEY}`).toString('base64')}`]],
    ['Basic with the raw key', [`Basic ${KEY}`]],
    ['Bearer with no key', ['Bearer']],
    ['Bearer and spaces only', ['Bearer    ']],
    ['the key without a scheme', [KEY]],
    ['Token scheme', [`Token ${KEY}`]],
    ['a second word after the key', [`Bearer ${KEY} extra`]],
    ['key with a comma list', [`Bearer ${KEY}, Bearer ${KEY}`]],
    ['1-char key that is not configured', ['Bearer y']],
    // the longest that fits uWS's ~4 KB request head; a longer one is refused by uWS itself (below)
    ['3 KB key', [`Bearer ${'k'.repeat(3 * 1024)}`]],
    ['a prefix of a valid key', [`Bearer ${KEY.slice(0, -1)}`]],
    ['a valid key plus a suffix', [`Bearer ${KEY}0`]],
    ['a valid key with different case', [`Bearer ${KEY.toUpperCase()}`]],
    ['two different keys on two lines (first valid)', [`Bearer ${KEY}`, 'Bearer wrong-key']],
    ['two different keys on two lines (second valid)', ['Bearer wrong-key', `Bearer ${KEY}`]],
    ['two valid but different keys', [`Bearer ${KEYS[0]}`, `Bearer ${KEYS[1]}`]],
  ];
  for (const [name, lines] of refused) {
    const r = await rawHttp(port, withAuth(lines));
    t.equal(r.status, 401, `${name}: 401`);
    t.match(JSON.parse(r.body), { error: { code: 'invalid_api_key', type: 'authentication_error' } });
    t.notMatch(r.body, /wrong-key|kkkkkkkk/, `${name}: the presented value is not echoed`);
  }
  // uWS v20.51 answers a request head over ~4 KB with 431 before any handler runs (docs/platform.md)
  const huge = await rawHttp(port, withAuth([`Bearer ${'k'.repeat(10 * 1024)}`]));
  t.equal(huge.status, 431, '10 KB key: 431 from uWS, before our handler');
  t.notMatch(huge.raw, /kkkkkkkk/, '10 KB key: not echoed');
  t.equal(s.sim.requests.length, 0, 'no refused request reached the upstream');
  // RFC 9110: one or more spaces after the scheme, optional whitespace around a value, scheme case-insensitive
  const accepted: Array<[string, readonly string[]]> = [
    ['two spaces after Bearer', [`Bearer  ${KEY}`]],
    ['a trailing space', [`Bearer ${KEY} `]],
    ['lowercase scheme', [`bearer ${KEY}`]],
    ['uppercase scheme', [`BEARER ${KEY}`]],
    ['the same key twice on two lines', [`Bearer ${KEY}`, `Bearer ${KEY}`]],
    ['a 1-char configured key', ['Bearer x']],
  ];
  for (const [name, lines] of accepted) {
    const r = await rawHttp(port, withAuth(lines));
    t.equal(r.status, 200, `${name}: accepted`);
  }
  t.equal(s.sim.requests.length, accepted.length);
  for (const rec of s.sim.requests) t.equal(rec.headers.authorization, undefined, 'the client credential is never forwarded');
});

void t.test('a 401 arrives before the body is read, and the connection is closed', async (t) => {
  const s = await startStack(t);
  const sock = await openSocket(s.service.port);
  let raw = '';
  sock.on('data', (c: Buffer) => (raw += c.toString('latin1')));
  // a large body announced (within MAX_BODY_SIZE, so only the key can stop it) and never sent
  sock.write(head('/v1/chat/completions', ['Authorization: Bearer wrong', 'Content-Type: application/json', 'Content-Length: 5000000']));
  await closed(sock);
  t.match(raw, /^HTTP\/1\.1 401 /, '401 without a byte of the body');
  t.match(raw, /"code":"invalid_api_key"/);
  t.equal(s.service.state.admission.inFlight, 0, 'no slot taken');
  // and a chunked body the same way
  const chunked = await openSocket(s.service.port);
  let raw2 = '';
  chunked.on('data', (c: Buffer) => (raw2 += c.toString('latin1')));
  chunked.write(head('/v1/chat/completions', ['Transfer-Encoding: chunked']));
  await closed(chunked);
  t.match(raw2, /^HTTP\/1\.1 401 /, 'chunked, no key: 401 and closed');
  t.equal(s.sim.requests.length, 0);
  await idle(s.service);
});

void t.test('conflicting content-length lines are refused (uWS reads only the first)', async (t) => {
  const s = await startStack(t);
  const dup = `POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: ${BODY.length}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n${BODY}`;
  const r = await rawHttp(s.service.port, dup);
  t.equal(r.status, 400);
  t.match(JSON.parse(r.body), { error: { code: 'invalid_request' } });
  const same = dup.replace('Content-Length: 5', `Content-Length: ${BODY.length}`);
  t.equal((await rawHttp(s.service.port, same)).status, 200, 'identical repeats are harmless');
  t.equal(s.sim.requests.length, 1);
});

void t.test('STATUS_TOKEN: required on /status, /metrics and /dashboard; odd and conflicting tokens refused', async (t) => {
  const s = await startStack(t, { STATUS_TOKEN: TOKEN });
  const port = s.service.port;
  const get = (path: string, lines: readonly string[] = []): Promise<Awaited<ReturnType<typeof rawHttp>>> =>
    rawHttp(port, head(path, [...lines, 'Connection: close'], 'GET'));
  for (const path of ['/status', '/metrics', '/dashboard']) {
    t.equal((await get(path)).status, 401, `${path} without the token: 401`);
    t.equal((await get(path, [`Authorization: Bearer ${TOKEN}`])).status, 200, `${path} with the token: 200`);
    t.equal((await get(`${path}?token=${TOKEN}`)).status, 200, `${path}?token=: 200`);
    for (const bad of ['', 'x', TOKEN.slice(0, -1), TOKEN + 'x', 'k'.repeat(3 * 1024), KEY]) {
      t.equal((await get(path, [`Authorization: Bearer ${bad}`])).status, 401, `${path} with a ${bad.length}-char wrong token: 401`);
    }
    t.equal((await get(path, [`Authorization: Bearer ${TOKEN}`, 'Authorization: Bearer other'])).status, 401, `${path}: conflicting lines: 401`);
    t.equal((await get(path, [`Authorization: Bearer ${'k'.repeat(10 * 1024)}`])).status, 431, `${path} with a 10 KB token: 431 from uWS`);
  }
  t.equal((await get('/health')).status, 200, '/health needs no token');
  t.equal((await get('/ready')).status, 200, '/ready needs no token');
});
