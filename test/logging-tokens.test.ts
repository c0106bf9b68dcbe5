// Token usage (log line, /status, /metrics) and the Go version's logging opt-ins; request ids and trace context (issue 14 §4, §5).
import t from 'tap';
import { startStack, chat, idle, KEY, type Stack } from './helpers/harness.js';
import { MODEL_LABELS } from '../src/monitoring/metrics.js';
import { LOG_TEXT_MAX } from '../workers/content.js';
import { HTML_500, openaiError, startScriptedUpstream, JSON_HEADERS } from './helpers/scripted-upstream.js';
import OpenAI from 'openai';

const requestLines = (s: Stack): Array<Record<string, unknown>> => s.logs.filter((l) => l.msg === 'request');

async function metric(s: Stack, name: string): Promise<string[]> {
  const text = await (await fetch(`${s.origin}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name + '{'));
}

t.test('token usage: in the log line, /status totals and a bounded Prometheus counter, stream and non-stream', async (t) => {
  const s = await startStack(t, {});
  const st = await s.client.chat.completions.create({ model: 'sim/echo;tokens=5', messages: [{ role: 'user', content: 'hi there' }], stream: true, stream_options: { include_usage: true } });
  let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
  for await (const c of st) if (c.usage) usage = c.usage;
  const whole = await s.client.chat.completions.create({ model: 'sim/echo;tokens=3', messages: [{ role: 'user', content: 'hello' }] });
  const plain = await s.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: [{ role: 'user', content: 'x' }], stream: true });
  for await (const _ of plain) void _;
  await idle(s.service);
  t.ok(usage && whole.usage, 'the SDK saw usage both times');
  const [a, b, c] = requestLines(s);
  t.same([a?.prompt_tokens, a?.completion_tokens], [usage!.prompt_tokens, usage!.completion_tokens], 'stream: the usage chunk’s figures in the log line');
  t.same([b?.prompt_tokens, b?.completion_tokens], [whole.usage!.prompt_tokens, whole.usage!.completion_tokens], 'non-stream: the body’s usage');
  t.same([c?.prompt_tokens, c?.completion_tokens], [null, null], 'a stream without include_usage has no figures (none are invented)');
  const doc = (await (await fetch(`${s.origin}/status`)).json()) as { tokens: { prompt: number; completion: number; total: number } };
  const prompt = usage!.prompt_tokens + whole.usage!.prompt_tokens;
  const completion = usage!.completion_tokens + whole.usage!.completion_tokens;
  t.same(doc.tokens, { prompt, completion, total: prompt + completion }, '/status totals');
  const lines = await metric(s, 'deepinfra_tokens_total');
  t.ok(lines.includes(`deepinfra_tokens_total{model="sim/echo;tokens=5",kind="completion"} ${usage!.completion_tokens}`), 'Prometheus counter by model and kind');
});

t.test('the model label is bounded: past the first names, tokens count as "other"', async (t) => {
  const s = await startStack(t, {});
  for (let i = 0; i <= MODEL_LABELS; i++) await s.client.embeddings.create({ model: `m-${i}`, input: 'abc', encoding_format: 'float' });
  const lines = await metric(s, 'deepinfra_tokens_total');
  const models = new Set(lines.map((l) => /model="([^"]*)"/.exec(l)?.[1]));
  t.equal(models.size, MODEL_LABELS + 1, `${MODEL_LABELS} names and "other"`);
  t.ok(models.has('other'), 'the one past the bound counts as other');
});

t.test('by default no prompt, completion or client detail is logged; the opt-ins add them, truncated, never keys', async (t) => {
  const secret = 'CANARY-prompt-7731';
  const long = 'y'.repeat(LOG_TEXT_MAX + 500);
  const off = await startStack(t, {});
  await off.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: [{ role: 'user', content: secret }] });
  await idle(off.service);
  t.notMatch(off.rawLogs(), secret, 'prompts stay out of the log by default');
  t.notOk(requestLines(off).some((l) => 'prompt' in l || 'completion' in l || 'client_ip' in l), 'no opt-in fields by default');

  const on = await startStack(t, { LOG_USER_MESSAGES: 'true', LOG_RESPONSE_CONTENT: 'true', ENABLE_DETAILED_LOGGING: 'true' });
  await on.client.chat.completions.create({ model: 'sim/echo;tokens=2', messages: [{ role: 'user', content: secret }], temperature: 0.3 });
  const st = await on.client.chat.completions.create({ model: 'sim/reasoning;tokens=2', messages: [{ role: 'user', content: long }], stream: true });
  let streamed = '';
  for await (const c of st) streamed += c.choices[0]?.delta.content ?? '';
  await on.client.chat.completions.create({ model: 'sim/error400', messages: [{ role: 'user', content: 'x' }] }).catch(() => undefined);
  await idle(on.service);
  const [one, two, three] = requestLines(on);
  t.equal(one?.prompt, `user: ${secret}`, 'LOG_USER_MESSAGES: the prompt as text');
  t.equal(one?.completion, 'tok0 tok1 ', 'LOG_RESPONSE_CONTENT: the answer text');
  t.match(one?.params, { temperature: 0.3, stream: undefined }, 'ENABLE_DETAILED_LOGGING: the small parameters');
  t.equal(one?.client_ip, '127.0.0.1', 'and who asked');
  t.type(one?.user_agent, 'string');
  t.ok(String(two?.prompt).length < LOG_TEXT_MAX + 100 && String(two?.prompt).includes('more characters'), 'a long prompt is truncated, saying by how much');
  t.ok(String(two?.completion).endsWith(streamed), 'a stream’s text is logged as it went by (reasoning first)');
  t.match(String(three?.completion), /^error: /, 'an upstream error body’s message is logged only with LOG_RESPONSE_CONTENT');
  t.notMatch(on.rawLogs(), KEY, 'keys never');
});

t.test('LOG_RESPONSE_CONTENT: an upstream error body in no known shape is logged as its own text, truncated; the client gets a generic error; without the opt-in nothing', async (t) => {
  const long = 'z'.repeat(LOG_TEXT_MAX + 200);
  const replies: Record<string, { status: number; type: string; body: string }> = {
    'acme/html': { status: 500, type: 'text/html', body: HTML_500 },
    'acme/text': { status: 429, type: 'text/plain', body: 'slow down, CANARY-upstream-41\n' },
    'acme/long': { status: 502, type: 'text/plain', body: long },
  };
  const up = await startScriptedUpstream(t, (req) => {
    if (req.model === 'acme/auth') return { status: 401, headers: { 'content-type': 'text/plain' }, body: ['Incorrect API key provided: CANARY-key-77'] };
    if (req.model === 'acme/openai') return { status: 400, headers: JSON_HEADERS, body: [openaiError('bad temperature', 'invalid_value', 'invalid_request_error')] };
    const r = replies[req.model ?? ''];
    return r ? { status: r.status, headers: { 'content-type': r.type, 'retry-after': '0' }, body: [r.body] } : { status: 404 };
  });
  const models = [...Object.keys(replies), 'acme/openai'];
  const ask = async (s: Stack): Promise<void> => {
    for (const model of models) {
      const e = await s.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err);
      t.ok(e instanceof OpenAI.APIError, `${model}: the SDK throws an APIError`);
      const api = e as InstanceType<typeof OpenAI.APIError>;
      t.equal(api.status, model === 'acme/openai' ? 400 : replies[model]!.status, `${model}: the upstream's status`);
      if (model !== 'acme/openai') t.equal(api.code, `upstream_${replies[model]!.status}`, `${model}: a generic OpenAI-shaped error, not the upstream's page`);
    }
  };
  const on = await startStack(t, { LOG_RESPONSE_CONTENT: 'true', MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000' }, { mirrors: up.url });
  await ask(on);
  await idle(on.service);
  const lines = requestLines(on);
  t.equal(lines.length, models.length, 'one log line per request');
  t.equal(lines[0]?.completion, `error: ${HTML_500.trim()}`, 'an HTML error page: its text');
  t.equal(lines[1]?.completion, 'error: slow down, CANARY-upstream-41', 'plain text: its text');
  const cut = String(lines[2]?.completion);
  t.ok(cut.startsWith('error: zzz') && cut.endsWith('(207 more characters)'), `a long body is truncated, saying by how much (${cut.slice(-30)})`);
  t.equal(lines[3]?.completion, 'error: bad temperature', 'an OpenAI error body: its message, as before');
  const auth = await on.client.chat.completions.create({ model: 'acme/auth', messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err);
  t.equal((auth as InstanceType<typeof OpenAI.APIError>).status, 502, 'an upstream 401 is the proxy’s own 502');
  await idle(on.service);
  t.equal(requestLines(on).length, models.length + 1, 'and has its log line');
  t.notMatch(on.rawLogs(), 'CANARY-key-77', 'whose body (it may echo a key) is not logged, even with the opt-in');

  const off = await startStack(t, { MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000' }, { mirrors: up.url });
  await ask(off);
  await idle(off.service);
  t.notOk(requestLines(off).some((l) => 'completion' in l), 'without LOG_RESPONSE_CONTENT no line has a completion');
  t.notMatch(off.rawLogs(), 'CANARY-upstream-41', 'nor the upstream body anywhere in the log');
});

t.test('x-request-id: a valid one is used end to end; an unsafe one is replaced. traceparent goes upstream when valid', async (t) => {
  const s = await startStack(t, {});
  const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const good = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'client-req:42', traceparent: trace }, body: JSON.stringify(chat('sim/echo;tokens=1')),
  });
  await good.text();
  t.equal(good.headers.get('x-request-id'), 'client-req:42', 'echoed to the client');
  const up = s.sim.requests.at(-1)!;
  t.equal(up.headers['x-request-id'], 'client-req:42', 'sent upstream');
  t.equal(up.headers['traceparent'], trace, 'traceparent passed upstream');
  const bad = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'has spaces and "quotes"', traceparent: 'nope' }, body: JSON.stringify(chat('sim/echo;tokens=1')),
  });
  await bad.text();
  t.match(bad.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'an unsafe id is replaced by a UUID');
  t.equal(s.sim.requests.at(-1)!.headers['traceparent'], undefined, 'an invalid traceparent is not sent');
  const denied = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { 'x-request-id': 'who-am-i' }, body: '{}' });
  t.equal(denied.headers.get('x-request-id'), 'who-am-i', 'also on refusals');
  await denied.text();
  await idle(s.service);
  t.same(requestLines(s).map((l) => l.req_id).filter((x) => x === 'client-req:42' || x === 'who-am-i'), ['client-req:42', 'who-am-i'], 'and in the log lines');
});
