// The drop-in promise, seen through the official openai SDK: chat (stream and not), tools, reasoning, usage,
// completions, embeddings, models, and the body reaching the upstream unchanged.
import t from 'tap';
import OpenAI from 'openai';
import { startStack, chat, KEY } from './helpers/harness.js';
import { sseEvents } from './helpers/raw.js';
import { EMBEDDING_DIM } from '../src/simulator/index.js';

for (const pool of ['2', '0']) {
  t.test(`POOL_SIZE=${pool}`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool, DEEPINFRA_API_KEY: 'upstream-key-xyz' });

    t.test('non-stream chat completion', async (t) => {
      const r = await s.client.chat.completions.create({ model: 'sim/echo;tokens=4', messages: [{ role: 'user', content: 'hi' }] });
      t.equal(r.object, 'chat.completion');
      t.equal(r.choices[0]?.message.content, 'tok0 tok1 tok2 tok3 ');
      t.equal(r.usage?.completion_tokens, 4);
    });

    t.test('streamed chat completion keeps every chunk field, usage chunk and ends at [DONE]', async (t) => {
      const stream = await s.client.chat.completions.create({
        model: 'sim/echo;tokens=5',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      const chunks = [];
      for await (const c of stream) {
        chunks.push(c);
        text += c.choices[0]?.delta.content ?? '';
      }
      t.equal(text, 'tok0 tok1 tok2 tok3 tok4 ');
      const first = chunks[0]!;
      t.equal(first.object, 'chat.completion.chunk');
      t.equal(first.choices[0]?.delta.role, 'assistant');
      t.ok(first.system_fingerprint, 'system_fingerprint survives');
      t.ok(chunks.every((c) => c.id === first.id), 'one id for the stream');
      t.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
      const usage = chunks.at(-1)!;
      t.same(usage.choices, []);
      t.equal(usage.usage?.completion_tokens, 5);
    });

    t.test('unicode content round-trips exactly, also when split across reads', async (t) => {
      const msg = 'echo:héllo 你好 🙂 wörld — ok';
      for (const model of ['sim/echo', 'sim/split;seed=7']) {
        const stream = await s.client.chat.completions.create({ model, messages: [{ role: 'user', content: msg }], stream: true });
        let text = '';
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
        t.equal(text, msg, model);
      }
    });

    t.test('tool calls stream and assemble', async (t) => {
      const stream = s.client.chat.completions.stream({
        model: 'sim/tools',
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      });
      const final = await stream.finalChatCompletion();
      const call = final.choices[0]?.message.tool_calls?.[0];
      t.equal(call?.type, 'function');
      if (call?.type === 'function') {
        t.equal(call.function.name, 'get_weather');
        t.same(JSON.parse(call.function.arguments), { city: 'Paris' });
      }
      t.equal(final.choices[0]?.finish_reason, 'tool_calls');
    });

    t.test('reasoning_content passes through by default', async (t) => {
      const stream = await s.client.chat.completions.create({ model: 'sim/reasoning;reasoning=2;tokens=2', messages: [{ role: 'user', content: 'x' }], stream: true });
      let reasoning = '';
      let content = '';
      for await (const c of stream) {
        const d = c.choices[0]?.delta as { content?: string | null; reasoning_content?: string } | undefined;
        reasoning += d?.reasoning_content ?? '';
        content += d?.content ?? '';
      }
      t.equal(reasoning, 'think0 think1 ');
      t.equal(content, 'tok0 tok1 ');
    });

    t.test('ping comments are not forwarded, the stream completes', async (t) => {
      const res = await fetch(`${s.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(chat('sim/ping;tokens=3', { stream: true })),
      });
      t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      t.equal(res.headers.get('cache-control'), 'no-cache');
      t.equal(res.headers.get('x-accel-buffering'), 'no');
      t.equal(res.headers.get('content-length'), null);
      t.ok(res.headers.get('x-request-id'));
      const body = await res.text();
      t.notMatch(body, /^(data: )?: ?ping/m, 'no ping line');
      t.equal((await sseEvents(body)).filter((e) => e.startsWith('{')).length, 4, 'every data event kept');
      t.match(body, /data: \[DONE\]\n\n$/);
    });

    t.test('legacy completions and embeddings relay', async (t) => {
      const c = await s.client.completions.create({ model: 'sim/echo;tokens=3', prompt: 'say' });
      t.equal(c.object, 'text_completion');
      t.equal(c.choices[0]?.text, 'tok0 tok1 tok2 ');
      const stream = await s.client.completions.create({ model: 'sim/echo;tokens=2', prompt: 'say', stream: true });
      let text = '';
      for await (const part of stream) text += part.choices[0]?.text ?? '';
      t.equal(text, 'tok0 tok1 ');
      const e = await s.client.embeddings.create({ model: 'sim/embed', input: ['a', 'b'], encoding_format: 'float' });
      t.equal(e.data.length, 2);
      t.equal(e.data[0]?.embedding.length, EMBEDDING_DIM);
    });

    t.test('the request body reaches the upstream unchanged; the client key does not', async (t) => {
      const body = JSON.stringify({
        model: 'sim/echo;tokens=1',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
        tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
        response_format: { type: 'json_object' },
        logprobs: true, n: 1, seed: 7, user: 'u-1', future_field: { nested: [1, 'two', null] },
        stream: true, stream_options: { include_usage: true },
      });
      const before = s.sim.requests.length;
      const res = await fetch(`${s.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', cookie: 'a=b', 'x-custom': 'nope' },
        body,
      });
      await res.text();
      const rec = s.sim.requests.slice(before).find((r) => r.path.endsWith('/chat/completions'));
      t.ok(rec, 'upstream saw the request');
      t.equal(rec!.body.toString('utf8'), body, 'byte for byte');
      t.equal(rec!.headers.authorization, 'Bearer upstream-key-xyz', 'upstream gets DEEPINFRA_API_KEY');
      t.notOk(JSON.stringify(rec!.headers).includes(KEY), 'client key never forwarded');
      t.equal(rec!.headers.cookie, undefined);
      t.equal(rec!.headers['x-custom'], undefined);
    });

    t.test('models: upstream list, then the cache, then a fallback when the upstream is down', async (t) => {
      const list = await s.client.models.list();
      t.ok(list.data.length > 0);
      const before = s.sim.requests.filter((r) => r.path.endsWith('/models')).length;
      s.sim.setModelsDown(true);
      const cached = await s.client.models.list();
      t.same(cached.data.map((m) => m.id), list.data.map((m) => m.id), 'served from cache');
      t.equal(s.sim.requests.filter((r) => r.path.endsWith('/models')).length, before, 'no upstream call while cached');
      s.sim.setModelsDown(false);
    });
  });
}

t.test('models fallback when no upstream can be reached and nothing is cached', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', MODELS_CACHE_TTL: '0' }, { mirrors: 'http://127.0.0.1:1/v1/openai' });
  const res = await fetch(`${s.baseURL}/models`, { headers: { authorization: `Bearer ${KEY}` } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-models-source'), 'fallback');
  const body = (await res.json()) as { data: Array<{ id: string }> };
  t.ok(body.data.some((m) => m.id === 'deepseek-ai/DeepSeek-V3.1'));
});

t.test('REASONING_FORMAT=think gives <think> content and nothing after [DONE]', async (t) => {
  const s = await startStack(t, { REASONING_FORMAT: 'think' });
  const client = new OpenAI({ apiKey: KEY, baseURL: s.baseURL, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'sim/reasoning;reasoning=2;tokens=2', messages: [{ role: 'user', content: 'x' }], stream: true });
  let content = '';
  for await (const c of stream) content += c.choices[0]?.delta.content ?? '';
  t.equal(content, '<think>think0 think1 </think>tok0 tok1 ');
});
