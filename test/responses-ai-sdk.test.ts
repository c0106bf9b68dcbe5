// The Vercel AI SDK's default OpenAI provider (it calls /v1/responses) through the proxy in front of the simulator:
// generateText and streamText, plain and with a tool round trip, and a failure mid-stream.
import t from 'tap';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { TOOL_NAME } from '../src/simulator/index.js';
import { startStack, KEY } from './helpers/harness.js';

const s = await startStack(t, { POOL_SIZE: '2' });

/** Every Responses request body the SDK sent to the proxy, parsed (seen by the fetch it is given). */
const received: Record<string, unknown>[] = [];
/** The chat bodies the proxy sent upstream. */
const sent = (): Record<string, unknown>[] =>
  s.sim.requests.filter((r) => r.path === '/v1/openai/chat/completions').map((r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>);
const openai = createOpenAI({
  baseURL: s.baseURL,
  apiKey: KEY,
  fetch: async (url, init) => {
    if (typeof init?.body === 'string') received.push(JSON.parse(init.body) as Record<string, unknown>);
    return fetch(url, init);
  },
});

/** get_weather, executed locally: what the model asked for, answered as JSON. */
const weather = tool({
  description: 'Weather for a city',
  inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }),
  execute: async ({ city }) => ({ city, sky: 'sunny' }),
});

t.test('generateText (non-stream) goes to /v1/responses', async (t) => {
  const model = 'sim/reasoning;reasoning=2;tokens=3';
  const r = await generateText({ model: openai(model), system: 'Be brief.', prompt: 'hi', maxOutputTokens: 20 });
  t.equal(r.text, 'tok0 tok1 tok2 ');
  t.equal(r.finishReason, 'stop');
  t.equal(r.usage.outputTokens, 5, 'reasoning tokens count as output');
  t.ok((r.usage.inputTokens ?? 0) > 0);
  t.match(received.at(-1), { model, input: Array, max_output_tokens: 20 });
  t.not(received.at(-1)?.['stream'], true);
  t.match(sent().at(-1), { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user' }], max_tokens: 20 });
});

t.test('streamText streams the text deltas and reports usage', async (t) => {
  const r = streamText({ model: openai('sim/reasoning;reasoning=2;tokens=4'), prompt: 'hi' });
  const parts: string[] = [];
  for await (const p of r.textStream) parts.push(p);
  t.equal(parts.join(''), 'tok0 tok1 tok2 tok3 ');
  t.ok(parts.length >= 4, 'several deltas');
  t.equal(await r.finishReason, 'stop');
  t.equal((await r.usage).outputTokens, 6);
  t.equal(received.at(-1)?.['stream'], true);
});

t.test('generateText with a tool: call, local execute, result back, final text', async (t) => {
  const r = await generateText({ model: openai('sim/tools'), prompt: 'Weather in Paris?', tools: { [TOOL_NAME]: weather }, stopWhen: stepCountIs(3) });
  t.equal(r.steps.length, 2);
  t.match(r.steps[0]?.toolCalls, [{ toolName: TOOL_NAME, input: { city: 'Paris' } }]);
  t.match(r.steps[0]?.toolResults, [{ toolName: TOOL_NAME, output: { city: 'Paris', sky: 'sunny' } }]);
  t.equal(r.text, 'The tool said: {"city":"Paris","sky":"sunny"}');
  t.match(received.at(-1), { input: [{ role: 'user' }, { type: 'function_call', name: TOOL_NAME }, { type: 'function_call_output' }] });
  t.match(sent().at(-1), { tools: [{ type: 'function', function: { name: TOOL_NAME } }] });
});

t.test('text before a call: the default store makes the next step an item_reference (a clear 400); store: false works', async (t) => {
  const model = openai('sim/tools;tokens=2');
  const args = { model, prompt: 'Weather in Paris?', tools: { [TOOL_NAME]: weather }, stopWhen: stepCountIs(3) };
  const err = await generateText(args).catch((e: unknown) => e);
  t.match(err, { statusCode: 400, message: /item_reference.*keeps no state.*store to false/ });
  t.match(received.at(-1), { input: [{ role: 'user' }, { type: 'item_reference' }, { type: 'function_call' }, { type: 'function_call_output' }] });
  const r = await generateText({ ...args, providerOptions: { openai: { store: false } } });
  t.equal(r.steps.length, 2);
  t.equal(r.steps[0]?.text, 'tok0 tok1 ');
  t.equal(r.text, 'The tool said: {"city":"Paris","sky":"sunny"}');
  t.match(sent().at(-1), { messages: [{ role: 'user' }, { role: 'assistant', content: 'tok0 tok1 ', tool_calls: [{ function: { name: TOOL_NAME } }] }, { role: 'tool' }] });
});

t.test('streamText with a tool round trip', async (t) => {
  const r = streamText({ model: openai('sim/tools'), prompt: 'Weather in Paris?', tools: { [TOOL_NAME]: weather }, stopWhen: stepCountIs(3) });
  const types = new Set<string>();
  for await (const p of r.fullStream) types.add(p.type);
  t.equal(await r.text, 'The tool said: {"city":"Paris","sky":"sunny"}');
  for (const type of ['tool-input-start', 'tool-input-delta', 'tool-call', 'tool-result', 'text-delta', 'finish']) t.ok(types.has(type), type);
  const steps = await r.steps;
  t.equal(steps.length, 2);
  t.equal(steps[0]?.finishReason, 'tool-calls');
});

t.test('a failure mid-stream reaches the AI SDK as an error part', async (t) => {
  const errors: unknown[] = [];
  const r = streamText({ model: openai('sim/errorevent;after=3'), prompt: 'x', onError: ({ error }) => { errors.push(error); } });
  let text = '';
  for await (const p of r.fullStream) if (p.type === 'text-delta') text += p.text;
  t.equal(text, 'tok0 tok1 ');
  t.equal(errors.length, 1);
  t.match(String((errors[0] as { message?: unknown }).message ?? errors[0]), /error/i);
});
