// Tests of event classification (inspectEvent) and the REASONING_FORMAT=think rewrite (ThinkTransform).
import t from 'tap';
import { inspectData } from '../workers/inspect.js';
import { ThinkTransform } from '../workers/think.js';
import { dataOf } from '../workers/sse-framer.js';

const ev = (raw: string) => ({ raw, data: dataOf(raw) });
const kind = (raw: string): string => inspectData(ev(raw).data).kind;

void t.test('inspect kinds', async (t) => {
  t.equal(kind('data: [DONE]\n\n'), 'done');
  t.equal(kind('data: [DONE] \r\n\r\n'), 'done');
  t.equal(kind(': ping\n\n'), 'ping');
  t.equal(kind('data: : ping\n\n'), 'ping');
  t.equal(kind('data:\n\n'), 'ping');
  t.equal(kind('data:   \n\n'), 'ping');
  t.equal(kind('event: x\n\n'), 'ping');
  t.equal(kind('\n'), 'ping');
  t.equal(kind('data: {"a":\n\n'), 'malformed');
  t.equal(kind('data: hello\n\n'), 'malformed');
  t.equal(kind('data: 42\n\n'), 'malformed');
  t.equal(kind('data: [1]\n\n'), 'malformed');
  t.equal(kind('data: null\n\n'), 'malformed');
});

void t.test('inspect chunk fields', async (t) => {
  const c = inspectData(ev('data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n').data);
  t.same(c, {
    kind: 'chunk', value: { id: 'x', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] },
    finishReason: null, usage: null, error: null,
  });
  const f = inspectData(ev('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n').data);
  t.equal(f.kind === 'chunk' && f.finishReason, 'stop');
  const u = inspectData(ev('data: {"id":"x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":11,"total_tokens":18}}\n\n').data);
  t.same(u.kind === 'chunk' && [u.finishReason, u.usage, u.error], [null, { prompt_tokens: 7, completion_tokens: 11, total_tokens: 18 }, null]);
  const e = inspectData(ev('data: {"error":{"message":"boom","type":"server_error"}}\n\n').data);
  t.same(e.kind === 'chunk' && e.error, { message: 'boom', type: 'server_error' });
  const n = inspectData(ev('data: {"error":null,"choices":[]}\n\n').data);
  t.equal(n.kind === 'chunk' && n.error, null);
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null, index = 0) =>
  ({ id: 'c1', object: 'chat.completion.chunk', created: 5, model: 'm', choices: [{ index, delta, finish_reason: finish }] });
const rawOf = (v: unknown) => `data: ${JSON.stringify(v)}\n\n`;
/** Runs chunk values through a transform, then finish(); returns the content pieces the client sees, in order. */
function run(tt: ThinkTransform, values: Record<string, unknown>[]): { out: string[]; content: string } {
  const out: string[] = [];
  for (const v of values) out.push(tt.apply(v, rawOf(v)));
  out.push(tt.finish());
  let content = '';
  for (const o of out) {
    for (const part of o.split('\n\n')) {
      if (!part.startsWith('data: ')) continue;
      const v = JSON.parse(part.slice(6)) as { choices: { delta: { content?: string | null; reasoning_content?: string } }[] };
      for (const c of v.choices) {
        if (c.delta.reasoning_content !== undefined) throw new Error('reasoning_content left in a rewritten delta');
        content += c.delta.content ?? '';
      }
    }
  }
  return { out, content };
}

void t.test('think: reasoning then content', async (t) => {
  const tt = new ThinkTransform();
  const values = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ reasoning_content: 'Let me ' }),
    chunk({ reasoning_content: 'think.', content: null }),
    chunk({ content: 'Answer' }),
    chunk({ content: ' done' }),
    chunk({}, 'stop'),
  ];
  const { out, content } = run(tt, values);
  t.equal(content, '<think>Let me think.</think>Answer done');
  t.equal(out[0], rawOf(values[0]), 'no reasoning: raw unchanged');
  t.same(JSON.parse((out[1] as string).slice(6)), chunk({ content: '<think>Let me ' }));
  t.same(JSON.parse((out[2] as string).slice(6)), chunk({ content: 'think.' }));
  t.same(JSON.parse((out[3] as string).slice(6)), chunk({ content: '</think>Answer' }));
  t.equal(out[4], rawOf(values[4]));
  t.equal(out[5], rawOf(values[5]));
  t.equal(out[6], '', 'finish: nothing open, nothing repeats');
  t.ok(out.every((o) => o === '' || (o.startsWith('data: ') && o.endsWith('\n\n'))));
});

void t.test('think: reasoning only, then finish() closes the block once', async (t) => {
  const tt = new ThinkTransform();
  tt.apply(chunk({ reasoning_content: 'hmm' }), 'x');
  const end = tt.finish();
  t.same(JSON.parse(end.slice(6)), {
    id: 'c1', object: 'chat.completion.chunk', created: 5, model: 'm',
    choices: [{ index: 0, delta: { content: '</think>' }, finish_reason: null }],
  });
  t.ok(end.endsWith('\n\n'));
  t.equal(tt.finish(), '', 'no repeat');
  const t2 = new ThinkTransform();
  const { content } = run(t2, [chunk({ reasoning_content: 'a' }), chunk({}, 'length')]);
  t.equal(content, '<think>a</think>', 'a finishing choice closes its block in that chunk');
});

void t.test('think: reasoning and content in one delta, in order', async (t) => {
  const tt = new ThinkTransform();
  const { content, out } = run(tt, [
    chunk({ reasoning_content: 'r1', content: 'c1' }),
    chunk({ reasoning_content: 'r2' }),
    chunk({ content: 'c2', reasoning_content: 'r3' }),
  ]);
  t.equal(content, '<think>r1</think>c1<think>r2r3</think>c2');
  t.same(JSON.parse((out[2] as string).slice(6)).choices[0].delta, { content: 'r3</think>c2' });
});

void t.test('think: no reasoning passes the raw text through identically', async (t) => {
  const tt = new ThinkTransform();
  const raw = 'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi","reasoning_content":null},"finish_reason":null}]}\r\n\r\n';
  const v = JSON.parse(raw.slice(6)) as Record<string, unknown>;
  t.equal(tt.apply(v, raw), raw);
  const usage = { id: 'c1', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } };
  t.equal(tt.apply(usage, 'RAW'), 'RAW');
  t.equal(tt.finish(), '');
});

void t.test('think: several choices keep separate blocks', async (t) => {
  const tt = new ThinkTransform();
  const v = { id: 'c', created: 1, model: 'm', choices: [
    { index: 0, delta: { reasoning_content: 'a' }, finish_reason: null },
    { index: 1, delta: { content: 'b' }, finish_reason: null }] };
  const o = tt.apply(v, 'x');
  const parsed = JSON.parse(o.slice(6)) as { choices: { delta: unknown }[] };
  t.same(parsed.choices.map((c) => c.delta), [{ content: '<think>a' }, { content: 'b' }]);
  t.same((JSON.parse(tt.finish().slice(6)) as { choices: unknown[] }).choices,
    [{ index: 0, delta: { content: '</think>' }, finish_reason: null }]);
});
