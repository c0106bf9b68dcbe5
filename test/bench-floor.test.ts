// The bench's floor targets (perf/lib/floor.ts, with undici or perf/lib/raw-client.ts) are yardsticks only if they relay what
// the upstream says: the SDK reads the same stream and completion through each as from the simulator, and an upstream
// they cannot reach is a 502.
import t from 'tap';
import OpenAI from 'openai';
import { startSim, type SimProc } from '../perf/lib/sim.js';
import { startTarget } from '../perf/lib/targets.js';

const ask = { model: 'sim/echo;tokens=7;interval=2', messages: [{ role: 'user' as const, content: 'hi' }] };

async function streamed(client: OpenAI): Promise<{ text: string; chunks: number; finish: string | null; usage: number | undefined }> {
  const stream = await client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let finish: string | null = null;
  let usage: number | undefined;
  for await (const c of stream) {
    chunks++;
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    usage = c.usage?.completion_tokens ?? usage;
  }
  return { text, chunks, finish, usage };
}

for (const target of ['floor', 'rawfloor'] as const) t.test(`through ${target} the SDK reads what the upstream sent`, async (t) => {
  const sim = await startSim('sim');
  t.teardown(() => sim.close());
  const floor = await startTarget(target, sim);
  t.teardown(() => floor.close());
  const direct = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'k', maxRetries: 0 });
  const through = new OpenAI({ baseURL: `${floor.origin}/v1`, apiKey: 'k', maxRetries: 0 });

  const [a, b] = [await streamed(direct), await streamed(through)];
  t.equal(a.text, 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 ', 'the simulator streams its tokens');
  t.same(b, a, 'the same text, chunks, finish reason and usage');

  const [x, y] = [await direct.chat.completions.create(ask), await through.chat.completions.create(ask)];
  t.equal(y.choices[0]?.message.content, x.choices[0]?.message.content, 'the same completion');
  t.equal(y.usage?.completion_tokens, 7);
});

for (const target of ['floor', 'rawfloor'] as const) t.test(`an upstream ${target} cannot reach is a 502 with an OpenAI-shaped error`, async (t) => {
  const nowhere = { kind: 'sim', pid: 0, port: 1, baseUrl: 'http://127.0.0.1:1/v1/openai', origin: 'http://127.0.0.1:1' } as SimProc;
  const floor = await startTarget(target, nowhere);
  t.teardown(() => floor.close());
  const client = new OpenAI({ baseURL: `${floor.origin}/v1`, apiKey: 'k', maxRetries: 0 });
  const err = await client.chat.completions.create(ask).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof OpenAI.APIError, 'the SDK raises its APIError');
  const e = err as InstanceType<typeof OpenAI.APIError>;
  t.equal(e.status, 502);
  t.equal(e.type, 'upstream_error');
});
