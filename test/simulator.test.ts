// Tests of the upstream simulator (src/simulator): stream shapes, behaviours, events and the CLI.
import t from 'tap';
import { simEvent } from './helpers/observe.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startSimulator, tokenText, SECRET_ECHO, type SimAbortEvent, type Simulator } from '../src/simulator/index.js';

type Json = Record<string, unknown>;
type Chunk = { id: string; object: string; model: string; choices: Json[]; usage?: Json; system_fingerprint?: string; created?: number };

const sim: Simulator = await startSimulator();
t.teardown(() => sim.close());

const chatUrl = `${sim.baseUrl}/chat/completions`;
const msgs = (content: string): Json[] => [{ role: 'user', content }];

function post(path: string, body: Json | string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sim.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** The `data:` payloads of an SSE text, in order (comment lines and `data: : ping` dropped). */
function dataLines(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('data: ') && line !== 'data: : ping') out.push(line.slice(6));
    }
  }
  return out;
}

function chunks(text: string): Chunk[] {
  return dataLines(text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Chunk);
}

function contentOf(cs: Chunk[], field = 'content'): string {
  return cs.map((c) => ((c.choices[0]?.['delta'] as Json | undefined)?.[field] as string | undefined) ?? '').join('');
}

/** A raw node:http POST; resolves once the response headers are in. */
function rawPost(body: Json): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.request(chatUrl, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('response', (res) => resolve({ req, res }));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t.test('stream shape, usage chunk, [DONE], then the end', async (t) => {
  const res = await post('/chat/completions', {
    model: 'sim/echo;tokens=3', stream: true, stream_options: { include_usage: true }, messages: msgs('hello there'),
  });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  t.ok(res.headers.get('x-sim-request-id'));
  const text = await res.text();
  const data = dataLines(text);
  t.equal(data.at(-1), '[DONE]');
  t.ok(text.endsWith('data: [DONE]\n\n'));
  const cs = chunks(text);
  t.equal(cs.length, 5, 'role + 3 content + usage');
  const id = cs[0]?.id;
  for (const c of cs) {
    t.match(c, { id, object: 'chat.completion.chunk', model: 'sim/echo;tokens=3', system_fingerprint: String, created: Number });
  }
  t.same(cs[0]?.choices[0], { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
  t.equal(contentOf(cs), 'tok0 tok1 tok2 ');
  t.equal(cs[3]?.choices[0]?.['finish_reason'], 'stop');
  t.same(cs[4]?.choices, []);
  t.same(cs[4]?.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
});

t.test('non-stream chat, max_tokens and finish length', async (t) => {
  const res = await post('/chat/completions', { model: 'openai/gpt-oss-120b', messages: msgs('hi'), max_tokens: 4 });
  t.equal(res.headers.get('content-type'), 'application/json');
  const body = (await res.json()) as Json;
  t.match(body, {
    object: 'chat.completion', model: 'openai/gpt-oss-120b',
    choices: [{ index: 0, message: { role: 'assistant', content: 'tok0 tok1 tok2 tok3 ' }, finish_reason: 'stop' }],
    usage: { completion_tokens: 4 },
  });
  const cut = (await (await post('/chat/completions', { model: 'sim/echo;tokens=10', messages: msgs('hi'), max_tokens: 2 })).json()) as Json;
  t.match(cut, { choices: [{ message: { content: 'tok0 tok1 ' }, finish_reason: 'length' }] });
});

t.test('echo: round trip with unicode, chat and legacy completions', async (t) => {
  const said = 'echo: 你好, world 😀🎉 ça va';
  const s = await (await post('/chat/completions', { model: 'sim/echo', stream: true, messages: msgs(said) })).text();
  t.equal(contentOf(chunks(s)), said);
  const c = await (await post('/completions', { model: 'sim/echo', stream: true, prompt: said })).text();
  const texts = chunks(c).map((x) => x.choices[0]?.['text']);
  t.equal(texts.join(''), said);
  t.equal(chunks(c)[0]?.object, 'text_completion');
  const n = (await (await post('/completions', { model: 'x', prompt: 'p', max_tokens: 2 })).json()) as Json;
  t.match(n, { object: 'text_completion', choices: [{ text: 'tok0 tok1 ', finish_reason: 'stop' }] });
});

t.test('reasoning and tools', async (t) => {
  const r = chunks(await (await post('/chat/completions', { model: 'sim/reasoning;reasoning=2;tokens=2', stream: true, messages: msgs('q') })).text());
  t.equal(contentOf(r, 'reasoning_content'), 'think0 think1 ');
  t.equal(contentOf(r), 'tok0 tok1 ');
  const tc = chunks(await (await post('/chat/completions', { model: 'sim/tools', stream: true, messages: msgs('q') })).text());
  const calls = tc.flatMap((c) => ((c.choices[0]?.['delta'] as Json)['tool_calls'] as Json[] | undefined) ?? []);
  t.ok(calls.length > 1, 'arguments split over several chunks');
  t.match(calls[0], { index: 0, id: String, type: 'function', function: { name: 'get_weather' } });
  t.equal(calls.map((c) => (c['function'] as Json)['arguments']).join(''), '{"city":"Paris"}');
  t.equal(tc.at(-1)?.choices[0]?.['finish_reason'], 'tool_calls');
  const ns = (await (await post('/chat/completions', { model: 'sim/tools', messages: msgs('q') })).json()) as Json;
  t.match(ns, { choices: [{ message: { tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, finish_reason: 'tool_calls' }] });
});

t.test('tools: calls=N parallel calls; a tool result as the last message gets a text answer', async (t) => {
  const tc = chunks(await (await post('/chat/completions', { model: 'sim/tools;calls=2', stream: true, messages: msgs('q') })).text());
  const calls = tc.flatMap((c) => ((c.choices[0]?.['delta'] as Json)['tool_calls'] as Json[] | undefined) ?? []);
  t.same([...new Set(calls.map((c) => c['index']))], [0, 1], 'two calls, one after the other');
  const ids = calls.filter((c) => c['id'] !== undefined).map((c) => c['id']);
  t.equal(new Set(ids).size, 2, 'distinct ids');
  for (const i of [0, 1]) {
    t.equal(calls.filter((c) => c['index'] === i).map((c) => (c['function'] as Json)['arguments']).join(''), '{"city":"Paris"}');
  }
  const ns = (await (await post('/chat/completions', { model: 'sim/tools;calls=2', messages: msgs('q') })).json()) as { choices: [{ message: { tool_calls: Json[] } }] };
  t.equal(ns.choices[0].message.tool_calls.length, 2);
  const after = [...msgs('q'), { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: 'sunny' }];
  t.equal(contentOf(chunks(await (await post('/chat/completions', { model: 'sim/tools', stream: true, messages: after })).text())), 'The tool said: sunny');
  const talk = chunks(await (await post('/chat/completions', { model: 'sim/tools;tokens=2', stream: true, messages: msgs('q') })).text());
  t.equal(contentOf(talk), 'tok0 tok1 ', 'tokens=N: text before the call');
  t.ok(talk.some((c) => (c.choices[0]?.['delta'] as Json)['tool_calls'] !== undefined));
  t.match(await (await post('/chat/completions', { model: 'sim/tools;tokens=1', messages: msgs('q') })).json(), { choices: [{ message: { content: 'tok0 ', tool_calls: [{ id: String }] } }] });
  t.match(await (await post('/chat/completions', { model: 'sim/tools', messages: after })).json(), { choices: [{ message: { content: 'The tool said: sunny' }, finish_reason: 'stop' }] });
});

t.test('split: many small reads that reassemble to the same events', async (t) => {
  const { res } = await rawPost({ model: 'sim/split;tokens=6;seed=7', stream: true, messages: msgs('q') });
  const parts: Buffer[] = [];
  res.on('data', (b: Buffer) => parts.push(b));
  await once(res, 'end');
  const text = Buffer.concat(parts).toString('utf8');
  const events = chunks(text);
  t.ok(parts.length > events.length, `${parts.length} reads for ${events.length} events`);
  t.equal(contentOf(events), Array.from({ length: 6 }, (_, i) => tokenText(i, true)).join(''));
  t.match(contentOf(events), /你好😀/);
  const plain = chunks(await (await post('/chat/completions', { model: 'sim/echo;tokens=6;unicode=1', stream: true, messages: msgs('q') })).text());
  t.same(events.map((c) => c.choices), plain.map((c) => c.choices));
  t.equal(dataLines(text).at(-1), '[DONE]');
});

t.test('crlf, ping, malformed, nodone, close, errorevent', async (t) => {
  const body = (model: string): Json => ({ model, stream: true, messages: msgs('q') });
  const crlf = await (await post('/chat/completions', body('sim/crlf;tokens=2'))).text();
  t.ok(crlf.includes('\r\n\r\n') && !/[^\r]\n/.test(crlf), 'CRLF only');
  t.equal(contentOf(chunks(crlf)), 'tok0 tok1 ');
  const ping = await (await post('/chat/completions', body('sim/ping;tokens=2'))).text();
  t.ok(ping.includes(': ping\n\n') && ping.includes('data: : ping\n\n'));
  t.equal(contentOf(chunks(ping)), 'tok0 tok1 ');
  const bad = dataLines(await (await post('/chat/completions', body('sim/malformed;tokens=4;after=2'))).text());
  t.equal(bad[2], '{"not valid json');
  t.equal(bad.at(-1), '[DONE]');
  const nodone = dataLines(await (await post('/chat/completions', body('sim/nodone;tokens=2'))).text());
  t.notOk(nodone.includes('[DONE]'));
  t.equal((JSON.parse(nodone.at(-1) as string) as Chunk).choices[0]?.['finish_reason'], 'stop');
  const close = dataLines(await (await post('/chat/completions', body('sim/close;after=3'))).text());
  t.equal(close.length, 3);
  t.notOk(close.some((d) => d === '[DONE]' || d.includes('"finish_reason":"stop"')));
  const ev = dataLines(await (await post('/chat/completions', body('sim/errorevent;after=2'))).text());
  t.equal(ev.length, 3);
  t.match(JSON.parse(ev[2] as string), { error: { message: 'upstream exploded', type: 'server_error', code: 'sim_error' } });
});

t.test('error statuses carry OpenAI error bodies', async (t) => {
  for (const status of [400, 401, 403, 429, 500, 503]) {
    const res = await post('/chat/completions', { model: `sim/error${status}`, stream: true, messages: msgs('q') });
    t.equal(res.status, status);
    t.equal(res.headers.get('content-type'), 'application/json');
    const text = await res.text();
    t.match(JSON.parse(text), { error: { message: String, type: String } });
    t.equal(text.includes(SECRET_ECHO), status === 401 || status === 403, `secret echo for ${status}`);
    if (status === 429) {
      t.equal(res.headers.get('retry-after'), '1');
      t.equal(res.headers.get('retry-after-ms'), '1000');
      t.equal(res.headers.get('x-ratelimit-remaining-requests'), '0');
    }
  }
  const inv = await post('/chat/completions', '{not json');
  t.equal(inv.status, 400);
  t.match(await inv.json(), { error: { type: 'invalid_request_error', param: null, code: 'invalid_json' } });
  const nf = await fetch(`${sim.baseUrl}/nope`);
  t.equal(nf.status, 404);
  t.match(await nf.json(), { error: { message: String } });
  const redirect = await post('/chat/completions', { model: 'sim/redirect', messages: msgs('q') }, { redirect: 'manual' });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get('location'), 'http://127.0.0.1:1/elsewhere');
});

t.test('flaky counts per model name; reset() clears the counters', async (t) => {
  const model = 'sim/flaky;fail=2;tokens=1';
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await post('/chat/completions', { model, messages: msgs('q') });
    statuses.push(r.status);
    await r.arrayBuffer();
  }
  t.same(statuses, [500, 500, 200, 200]);
  const other = await post('/chat/completions', { model: 'sim/flaky;fail=1', messages: msgs('q') });
  t.equal(other.status, 500, 'another name has its own counter');
  await other.arrayBuffer();
  sim.reset();
  t.equal(sim.requests.length, 0);
  t.equal(sim.stats.requests, 0);
  const again = await post('/chat/completions', { model, messages: msgs('q') });
  t.equal(again.status, 500);
  await again.arrayBuffer();
});

t.test('models list and models down', async (t) => {
  const ok = (await (await fetch(`${sim.baseUrl}/models`)).json()) as { object: string; data: Json[] };
  t.equal(ok.object, 'list');
  t.match(ok.data[0], { id: String, object: 'model', created: Number, owned_by: String });
  sim.setModelsDown(true);
  const down = await fetch(`http://127.0.0.1:${sim.port}/v1/models`);
  t.equal(down.status, 503);
  t.match(await down.json(), { error: { message: String } });
  sim.setModelsDown(false);
  t.equal((await fetch(`${sim.baseUrl}/models`)).status, 200);
});

t.test('embeddings, gzip, notsse, garbage', async (t) => {
  const e = (await (await post('/embeddings', { model: 'm', input: ['a', 'b'] })).json()) as { data: { embedding: number[]; index: number }[] };
  t.equal(e.data.length, 2);
  t.equal(e.data[1]?.index, 1);
  t.equal(e.data[0]?.embedding.length, 8);
  const e2 = (await (await post('/embeddings', { model: 'm', input: 'a' })).json()) as typeof e;
  t.same(e2.data[0]?.embedding, e.data[0]?.embedding, 'deterministic');
  const gz = await post('/chat/completions', { model: 'sim/gzip;tokens=2', stream: true, messages: msgs('q') });
  t.equal(gz.headers.get('content-encoding'), 'gzip');
  t.equal(contentOf(chunks(await gz.text())), 'tok0 tok1 ');
  const ns = await post('/chat/completions', { model: 'sim/notsse', stream: true, messages: msgs('q') });
  t.equal(ns.headers.get('content-type'), 'application/json');
  t.match(await ns.json(), { object: 'chat.completion' });
  const g = await post('/chat/completions', { model: 'sim/garbage;size=2000', stream: true, messages: msgs('q') });
  t.equal(g.headers.get('content-type'), 'text/event-stream');
  const bytes = Buffer.from(await g.arrayBuffer());
  t.equal(bytes.length, 2000);
  t.equal(dataLines(bytes.toString('latin1')).length, 0, 'no data events');
});

t.test('abort event when the client goes mid-stream; requests recorded', async (t) => {
  const aborted = once(sim, 'abort') as Promise<[SimAbortEvent]>;
  const before = sim.stats.aborts;
  const { req, res } = await rawPost({ model: 'sim/stall;after=3', stream: true, messages: msgs('q') });
  let got = '';
  res.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    res.on('data', (s: string) => {
      got += s;
      if (dataLines(got).length === 3) resolve();
    });
  });
  res.on('error', () => {});
  req.destroy();
  const [ev] = await aborted;
  t.match(ev, { path: '/v1/openai/chat/completions', model: 'sim/stall;after=3', eventsSent: 3, at: Number });
  t.equal(sim.stats.aborts, before + 1);
  const rec = sim.requests.at(-1);
  t.equal(rec?.method, 'POST');
  t.equal(rec?.headers['content-type'], 'application/json');
  t.match(JSON.parse(rec?.body.toString() ?? '{}'), { model: 'sim/stall;after=3' });
});

t.test('huge chunk, slowheaders, abort before the headers', async (t) => {
  const huge = chunks(await (await post('/chat/completions', { model: 'sim/huge;size=300000', stream: true, messages: msgs('q') })).text());
  t.equal(Buffer.byteLength(contentOf(huge)), 300000);
  t.equal(huge.at(-1)?.choices[0]?.['finish_reason'], 'stop');
  const slow = await post('/chat/completions', { model: 'sim/slowheaders;delay=20;tokens=1', messages: msgs('q') });
  t.match(await slow.json(), { choices: [{ message: { content: 'tok0 ' } }] });
  const model = 'sim/slowheaders;delay=60000';
  const aborted = new Promise<SimAbortEvent>((resolve) => {
    const f = (e: SimAbortEvent): void => {
      if (e.model !== model) return;
      sim.off('abort', f);
      resolve(e);
    };
    sim.on('abort', f);
  });
  const ac = new AbortController();
  const arrived = once(sim, 'request');
  const pending = post('/chat/completions', { model, messages: msgs('q') }, { signal: ac.signal }).catch((e: unknown) => e);
  await arrived;
  ac.abort();
  t.match(await aborted, { eventsSent: 0 });
  t.ok((await pending) instanceof Error);
});

t.test('reset destroys the socket after `after` events, not counted as an abort', async (t) => {
  const before = sim.stats.aborts;
  const { res } = await rawPost({ model: 'sim/reset;after=2', stream: true, messages: msgs('q') });
  let got = '';
  res.setEncoding('utf8');
  res.on('data', (s: string) => (got += s));
  await new Promise<void>((resolve) => {
    res.on('error', () => {});
    res.on('close', () => resolve());
  });
  t.notOk(res.complete, 'response incomplete');
  t.equal(dataLines(got).length, 2);
  t.equal(sim.stats.aborts, before);
});

t.test('backpressure: a paused client blocks writes, resuming completes', async (t) => {
  // 20 MB: more than loopback kernel buffers and what the client reads before it pauses.
  const model = 'sim/long;tokens=20000;size=1024';
  let completeSeen = false;
  const completed = new Promise<{ eventsSent: number }>((resolve) => {
    const f = (e: { model: string; eventsSent: number }): void => {
      if (e.model !== model) return;
      completeSeen = true;
      sim.off('complete', f);
      resolve(e);
    };
    sim.on('complete', f);
  });
  const blocked = simEvent(sim, 'blocked', model);
  const before = sim.stats.blockedWrites;
  const { res } = await rawPost({ model, stream: true, messages: msgs('q') });
  res.pause();
  await blocked;
  t.notOk(completeSeen, 'blocked before the end');
  t.ok(sim.stats.blockedWrites > before);
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  res.resume();
  await once(res, 'end');
  const c = await completed;
  t.equal(c.eventsSent, 20002, 'role + 20000 tokens + [DONE]');
  t.ok(bytes > 20000 * 1024);
});

t.test('cli starts, prints its base URL and stops on SIGTERM', async (t) => {
  const cli = fileURLToPath(new URL('../src/simulator/cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const m = /^simulator listening on (http:\/\/127\.0\.0\.1:\d+\/v1\/openai)\n$/.exec(line.toString());
  t.ok(m, line.toString());
  const r = await fetch(`${m?.[1] ?? ''}/models`);
  t.equal(r.status, 200);
  await r.arrayBuffer();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.equal(code, 0);
});
