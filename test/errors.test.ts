// Every error the service produces, at every layer, is an OpenAI-shaped JSON body with the right status (§2).
import t, { type Test } from 'tap';
import OpenAI from 'openai';
import { ERRORS, errorBody } from '../src/errors.js';
import { startStack, chat, KEY } from './helpers/harness.js';
import { rawHttp, post } from './helpers/raw.js';

t.test('the error table is pinned', async (t) => {
  const rows = Object.entries(ERRORS).map(([code, e]) => `${code} ${e.status} ${e.type} ${e.level}`);
  // code → status, OpenAI type, log level: changing a row here is a visible decision
  const pinned = `
    not_found 404 not_found_error info
    method_not_allowed 405 invalid_request_error info
    invalid_api_key 401 authentication_error info
    unauthorized_status 401 authentication_error info
    request_timeout 408 timeout_error info
    body_too_large 413 invalid_request_error info
    key_limit 429 rate_limit_error info
    overloaded 503 overloaded_error warn
    queue_timeout 503 overloaded_error warn
    memory_pressure 503 overloaded_error warn
    draining 503 overloaded_error info
    invalid_utf8 400 invalid_request_error info
    invalid_json 400 invalid_request_error info
    invalid_request 400 invalid_request_error info
    upstream_unreachable 502 upstream_error warn
    upstream_bad_response 502 upstream_error warn
    upstream_auth 502 upstream_error error
    upstream_redirect 502 upstream_error warn
    upstream_timeout 504 timeout_error warn
    response_too_large 502 upstream_error warn
    upstream_reset 502 upstream_error warn
    upstream_truncated 502 upstream_error warn
    upstream_idle_timeout 504 timeout_error warn
    upstream_error_event 502 upstream_error warn
    stream_timeout 504 timeout_error warn
    max_connection_time 504 timeout_error warn
    client_stall 408 timeout_error info
    worker_crashed 502 server_error error
    shutdown 503 server_error info
    internal_error 500 server_error error
  `;
  t.same(rows, pinned.trim().split('\n').map((l) => l.trim()));
  for (const [code, e] of Object.entries(ERRORS)) {
    t.ok(e.status >= 400 && e.status < 600, `${code} has an error status`);
    t.ok(e.message.length > 0 && !/\{|\}/.test(e.message), `${code} has a plain message`);
  }
  t.same(errorBody('invalid_api_key'), { error: { message: ERRORS.invalid_api_key.message, type: 'authentication_error', param: null, code: 'invalid_api_key' } });
});

interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string };
}

function shaped(t: Test, res: { status: number; headers: Headers }, body: unknown, status: number, code: string): void {
  t.equal(res.status, status, `status ${status}`);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.ok(res.headers.get('x-request-id'), 'x-request-id');
  const e = (body as ErrorJson).error;
  t.ok(e, 'has error');
  t.equal(e.code, code);
  t.type(e.message, 'string');
  t.type(e.type, 'string');
  t.ok('param' in e, 'has param');
  t.notMatch(JSON.stringify(body), /at .*\.js:\d+/, 'no stack trace');
}

t.test('statuses and shapes over HTTP', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', MAX_BODY_SIZE: '4096', REQUEST_TIMEOUT: '400', MAX_CONNECTIONS_PER_KEY: '1', CIRCUIT_FAILURES: '1000' });
  const url = `${s.baseURL}/chat/completions`;
  const call = async (body: string, headers: Record<string, string> = {}, path = url, method = 'POST') => {
    const res = await fetch(path, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, ...(method === 'GET' ? {} : { body }) });
    return { res, body: (await res.json()) as unknown };
  };

  let r = await call('{"model": ');
  shaped(t, r.res, r.body, 400, 'invalid_json');
  r = await call(JSON.stringify({ model: 'm', messages: [] }));
  shaped(t, r.res, r.body, 400, 'invalid_request');
  t.equal((r.body as ErrorJson).error.param, 'messages');
  r = await call(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }));
  t.equal((r.body as ErrorJson).error.param, 'stream');
  r = await call(JSON.stringify(chat('m')), { authorization: 'Bearer wrong' });
  shaped(t, r.res, r.body, 401, 'invalid_api_key');
  r = await call('', {}, `${s.origin}/v1/nope`);
  shaped(t, r.res, r.body, 404, 'not_found');
  r = await call('', {}, url, 'GET');
  shaped(t, r.res, r.body, 405, 'method_not_allowed');
  t.equal(r.res.headers.get('allow'), 'POST');
  r = await call('x'.repeat(5000));
  shaped(t, r.res, r.body, 413, 'body_too_large');
  r = await call(JSON.stringify(chat('sim/error500')));
  t.equal(r.res.status, 500, 'upstream 5xx keeps its status');
  t.equal((r.body as ErrorJson).error.type, 'server_error', 'and its OpenAI body');
  r = await call(JSON.stringify(chat('sim/error400')));
  t.equal(r.res.status, 400, 'upstream 4xx relayed');
  r = await call(JSON.stringify(chat('sim/error429')));
  t.equal(r.res.status, 429);
  t.equal(r.res.headers.get('retry-after'), '1', 'upstream retry-after passes through');
  t.equal(r.res.headers.get('x-ratelimit-remaining-requests'), '0', 'x-ratelimit-* pass through');
  for (const m of ['sim/error401', 'sim/error403']) {
    r = await call(JSON.stringify(chat(m)));
    shaped(t, r.res, r.body, 502, 'upstream_auth');
    t.notMatch(JSON.stringify(r.body), /upstream-secret-key-ECHO/, 'upstream text that may echo a key is dropped');
  }
  r = await call(JSON.stringify(chat('sim/redirect')));
  shaped(t, r.res, r.body, 502, 'upstream_redirect');
  r = await call(JSON.stringify(chat('sim/notsse', { stream: true })));
  shaped(t, r.res, r.body, 502, 'upstream_bad_response');
  r = await call(JSON.stringify(chat('sim/slowheaders;delay=2000')));
  shaped(t, r.res, r.body, 504, 'upstream_timeout');

  // per-key cap: one stalled stream holds the key's only slot
  const ac = new AbortController();
  const held = await fetch(url, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('sim/stall;after=1', { stream: true })) });
  t.equal(held.status, 200);
  r = await call(JSON.stringify(chat('sim/echo')));
  shaped(t, r.res, r.body, 429, 'key_limit');
  t.ok(Number(r.res.headers.get('retry-after')) >= 1 && Number(r.res.headers.get('retry-after')) <= 5, 'Retry-After 1..5 s');
  t.ok(Number(r.res.headers.get('retry-after-ms')) > 0, 'retry-after-ms');
  ac.abort();
});

t.test('upstream unreachable is 502, slow body is 408, both JSON', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', BODY_TIMEOUT: '300' }, { mirrors: 'http://127.0.0.1:1/v1/openai' });
  const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('m')) });
  shaped(t, res, await res.json(), 502, 'upstream_unreachable');
  const body = JSON.stringify(chat('m'));
  const slow = await rawHttp(s.service.port, post('/v1/chat/completions', body, KEY).slice(0, -10));
  t.equal(slow.status, 408);
  t.equal((JSON.parse(slow.body) as ErrorJson).error.code, 'request_timeout');
});

t.test('SDK users see these errors as typed exceptions', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0' });
  const bad = new OpenAI({ apiKey: 'nope', baseURL: s.baseURL, maxRetries: 0 });
  const caught = async (p: Promise<unknown>): Promise<unknown> => p.then(() => null, (e: unknown) => e);
  const e401 = await caught(bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
  t.ok(e401 instanceof OpenAI.AuthenticationError, 'AuthenticationError');
  t.match(e401, { status: 401, code: 'invalid_api_key' });
  const e400 = await caught(s.client.chat.completions.create({ model: 'm', messages: [] }));
  t.ok(e400 instanceof OpenAI.BadRequestError, 'BadRequestError');
  t.match(e400, { status: 400, param: 'messages' });
  const e500 = await caught(s.client.chat.completions.create({ model: 'sim/error500', messages: [{ role: 'user', content: 'x' }] }));
  t.ok(e500 instanceof OpenAI.InternalServerError, 'InternalServerError');
});
