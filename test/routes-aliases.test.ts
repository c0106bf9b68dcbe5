// MODEL_ALIASES: validated at start (naming the variable), the model of every route rewritten before it goes
// upstream (nothing else of the body changes), /v1/models listing the aliases; and the in-place rewrite and the
// multipart walk it relies on, as units.
import t from 'tap';
import fc from 'fast-check';
import { toFile } from 'openai';
import { ConfigError } from '../src/config.js';
import { startStack, testConfig, idle, KEY, type Stack } from './helpers/harness.js';
import { modelSpan, rewriteJsonModel, withAliases } from '../workers/aliases.js';
import { boundaryOf, replaceField, scanUpload } from '../workers/multipart.js';

const ALIASES = 'gpt-4o=sim/echo;tokens=3, whisper-1=openai/whisper-large-v3,tts-1=sim/echo;size=1000, sim/tools=sim/echo;tokens=2';

/** The body of the latest upstream request to `path` (under the simulator's base). */
const upstreamBody = (s: Stack, path: string): Buffer | undefined => s.sim.requests.filter((r) => r.path === `/v1/openai${path}`).at(-1)?.body;
const lastLog = (s: Stack, route: string): Record<string, unknown> | undefined => s.logs.filter((l) => l['route'] === route).at(-1);

t.test('MODEL_ALIASES is validated at start, and the error names it', async (t) => {
  const bad = ['gpt-4o', '=x', 'a=', 'a=a', 'a=b,a=c', 'a=b,b=c', `${'x'.repeat(300)}=y`];
  for (const value of bad) {
    let err: unknown = null;
    try {
      testConfig({ MODEL_ALIASES: value });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `${value.slice(0, 20)}: refused`);
    t.match(String((err as Error | null)?.message), /MODEL_ALIASES/, `${value.slice(0, 20)}: the message names MODEL_ALIASES`);
  }
  const c = testConfig({ MODEL_ALIASES: ' fast = sim/echo;tokens=3 ,, b=c ' });
  t.same(c.MODEL_ALIASES, { fast: 'sim/echo;tokens=3', b: 'c' }, 'trimmed, split at the first =, empty entries ignored');
  t.same(testConfig({}).MODEL_ALIASES, {}, 'none by default');
});

t.test('an aliased model on every route; the log shows the client’s model and upstream_model', async (t) => {
  const s = await startStack(t, { MODEL_ALIASES: ALIASES, MAX_RETRIES: '0' });

  const body = '{"messages":[{"role":"user","content":"model"}], "model" : "gpt-4o","seed":12345678901234567890,"temperature":1.0}';
  const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body });
  const answer = (await res.json()) as { model?: string; choices?: Array<{ message?: { content?: string } }> };
  t.equal(res.status, 200, 'chat with an alias');
  t.equal(answer.choices?.[0]?.message?.content, 'tok0 tok1 tok2 ', 'the target model answered');
  t.equal(upstreamBody(s, '/chat/completions')?.toString(), body.replace('"gpt-4o"', '"sim/echo;tokens=3"'), 'only the model changed, every other byte as sent (big integer, 1.0 included)');
  await idle(s.service);
  t.match(lastLog(s, '/v1/chat/completions'), { model: 'gpt-4o', upstream_model: 'sim/echo;tokens=3', status: 200 }, 'log: the requested model and the target');

  const plain = '{"model":"sim/echo;tokens=1","messages":[{"role":"user","content":"x"}]}';
  await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: plain }).then((r) => r.text());
  t.equal(upstreamBody(s, '/chat/completions')?.toString(), plain, 'no alias: the body as it came');
  await idle(s.service);
  t.notOk(lastLog(s, '/v1/chat/completions')?.['upstream_model'], 'no alias: no upstream_model in the log');

  const shadow = await s.client.chat.completions.create({ model: 'sim/tools', messages: [{ role: 'user', content: 'x' }] });
  t.equal(shadow.choices[0]?.message.content, 'tok0 tok1 ', 'an alias may shadow a real model name');

  const stream = await s.client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  t.equal(text, 'tok0 tok1 tok2 ', 'a stream with an alias');

  const r = await s.client.responses.create({ model: 'gpt-4o', input: 'hi' });
  t.equal(r.output_text, 'tok0 tok1 tok2 ', '/v1/responses with an alias');
  t.match(JSON.parse(upstreamBody(s, '/chat/completions')?.toString() ?? '{}'), { model: 'sim/echo;tokens=3' }, 'the translated chat body carries the target');

  await s.client.images.generate({ model: 'gpt-4o', prompt: 'p', size: '8x8' });
  t.match(JSON.parse(upstreamBody(s, '/images/generations')?.toString() ?? '{}'), { model: 'sim/echo;tokens=3', prompt: 'p' }, 'images with an alias');

  const speech = await s.client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello' });
  t.equal((await speech.arrayBuffer()).byteLength, 1000, 'speech with an alias (the target’s size=1000)');

  const tr = await s.client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(Buffer.alloc(500, 3), 'a.wav') });
  t.match(tr.text, /500 bytes/, 'a transcription with an alias');
  const sent = upstreamBody(s, '/audio/transcriptions')?.toString('latin1') ?? '';
  t.match(sent, /name="model"\r\n\r\nopenai\/whisper-large-v3\r\n/, 'the multipart model field carries the target');
  t.notMatch(sent, /whisper-1/, 'and not the alias');
  await idle(s.service);
  t.match(lastLog(s, '/v1/audio/transcriptions'), { model: 'whisper-1', upstream_model: 'openai/whisper-large-v3' });
});

t.test('/v1/models lists the aliases beside the upstream’s models', async (t) => {
  const s = await startStack(t, { MODEL_ALIASES: ALIASES });
  const list = await s.client.models.list();
  const ids = list.data.map((m) => m.id);
  for (const id of ['sim/echo', 'gpt-4o', 'whisper-1', 'tts-1', 'sim/tools']) t.ok(ids.includes(id), `${id} listed`);
  t.equal(ids.filter((id) => id === 'sim/tools').length, 1, 'an alias that shadows an upstream model is listed once');
  const alias = list.data.find((m) => m.id === 'gpt-4o') as unknown as Record<string, unknown>;
  t.match(alias, { object: 'model', alias_for: 'sim/echo;tokens=3' }, 'the alias entry names its target');
  t.match(list.data.find((m) => m.id === 'sim/tools'), { alias_for: 'sim/echo;tokens=2' });
});

t.test('modelSpan / rewriteJsonModel: the top-level model only, the rest byte for byte', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['{"model":"a"}', '{"model":"T"}'],
    ['\ufeff {\n "messages": [{"model": "a", "x": {"model": "a"}}],\n "model": "a" }', '\ufeff {\n "messages": [{"model": "a", "x": {"model": "a"}}],\n "model": "T" }'],
    ['{"mod\\u0065l":"a","n":[1,{"a":"}\\""}]}', '{"mod\\u0065l":"T","n":[1,{"a":"}\\""}]}'],
    ['{"model":"a","model":"b"}', '{"model":"a","model":"T"}'],
    ['{"x":"\\"model\\":","model":"a\\"b"}', '{"x":"\\"model\\":","model":"T"}'],
    ['{"model":3}', null],
    ['{"messages":[]}', null],
  ];
  for (const [body, want] of cases) {
    const b = Buffer.from(body);
    const out = Buffer.from(rewriteJsonModel(b, 'T')).toString();
    t.equal(out, want ?? body, `${body.slice(0, 40)}`);
  }
  fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), fc.string(), fc.nat(5), (rest, model, target, at) => {
    const entries = Object.entries(rest).filter(([k]) => k !== 'model');
    entries.splice(Math.min(at, entries.length), 0, ['model', model]);
    const body = Buffer.from(JSON.stringify(Object.fromEntries(entries), null, at % 2 === 0 ? undefined : 2));
    const span = modelSpan(body);
    if (span === null || JSON.parse(body.subarray(span.start, span.end).toString()) !== model) return false;
    const out = JSON.parse(Buffer.from(rewriteJsonModel(body, target)).toString()) as Record<string, unknown>;
    return out.model === target && JSON.stringify({ ...out, model }) === JSON.stringify(JSON.parse(body.toString()));
  }), { numRuns: 300 });
});

t.test('withAliases: entries added, shadowed ones replaced, anything else left alone', async (t) => {
  const list = JSON.stringify({ object: 'list', data: [{ id: 'x', object: 'model', created: 5, owned_by: 'o' }, { id: 'a', object: 'model', created: 1, owned_by: 'o' }] });
  const out = JSON.parse(withAliases(list, { a: 'x', b: 'nope' })) as { data: Array<Record<string, unknown>> };
  t.same(out.data, [
    { id: 'x', object: 'model', created: 5, owned_by: 'o' },
    { id: 'a', object: 'model', created: 5, owned_by: 'o', alias_for: 'x' },
    { id: 'b', object: 'model', created: 0, owned_by: 'deepinfra-proxy', alias_for: 'nope' },
  ]);
  t.equal(withAliases(list, {}), list, 'no aliases: the same text');
  t.equal(withAliases('not json', { a: 'b' }), 'not json');
});

t.test('scanUpload: parts found by their delimiters; the model field replaced in place', async (t) => {
  t.equal(boundaryOf('multipart/form-data; boundary="a b"'), 'a b');
  t.equal(boundaryOf('Multipart/Form-Data;boundary=xyz; charset=utf-8'), 'xyz');
  t.equal(boundaryOf('multipart/mixed; boundary=x'), null);
  t.equal(boundaryOf('application/json'), null);
  const bin = Buffer.from([0, 13, 10, 45, 45, 66, 255, 13, 10, 45, 45]); // CR LF -- B … inside the file
  const body = Buffer.concat([
    Buffer.from('preamble\r\n--a b\r\nContent-Disposition: form-data; name="file"; filename="we \\"x\\".wav"\r\nContent-Type: audio/wav\r\n\r\n'),
    bin,
    Buffer.from('\r\n--a b\r\ncontent-disposition: form-data; name=model\r\n\r\nwhisper-1\r\n--a b--\r\n'),
  ]);
  const r = scanUpload(body, 'a b');
  if (!r.ok) throw new Error(r.message);
  t.equal(r.hasFile, true, 'the file part');
  t.equal(r.model?.value, 'whisper-1', 'the model field after the file');
  const out = replaceField(body, r.model!.start, r.model!.end, 'openai/whisper-large-v3');
  t.equal(out.toString('latin1'), body.toString('latin1').replace('whisper-1', 'openai/whisper-large-v3'), 'only the value changed');
  const again = scanUpload(out, 'a b');
  t.match(again, { ok: true, hasFile: true, model: { value: 'openai/whisper-large-v3' } });
  for (const [bad, why] of [
    ['garbage', /start/], ['--a b\r\nno end of headers', /headers/], ['--a b\r\nContent-Disposition: form-data; name="m"\r\n\r\nv', /closing/],
    ['--a b\r\nContent-Type: text/plain\r\n\r\nv\r\n--a b--', /name/], ['--a bX', /boundary line/],
  ] as const) {
    t.match(scanUpload(Buffer.from(bad), 'a b'), { ok: false, message: why }, JSON.stringify(bad));
  }
});
