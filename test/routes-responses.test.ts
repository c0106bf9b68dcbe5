// POST /v1/responses through the proxy, with the official openai SDK: create (non-stream and stream), the
// responses.stream helper, a tool-call round trip, the stateless 400s, and failures mid-stream (response.failed,
// no [DONE]) and before the first byte (a real status). POOL_SIZE=0 and 2.
import t from 'tap';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { startStack, idle, KEY, type Stack } from './helpers/harness.js';
import { TOOL_NAME } from '../src/simulator/index.js';
import { ERRORS, type ErrorCode } from '../src/errors.js';
import { FAILURE_TEXT } from '../workers/responses-relay.js';

const weatherTool = {
  type: 'function' as const, name: TOOL_NAME, description: 'Weather for a city', strict: false,
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

/** The last chat body the simulator received (what the translation sent upstream). */
function upstreamChat(s: Stack): Record<string, unknown> {
  const rec = s.sim.requests.filter((r) => r.path === '/v1/openai/chat/completions').at(-1);
  return JSON.parse(rec?.body.toString('utf8') ?? '{}') as Record<string, unknown>;
}

/** The log line of the latest request to `route`. */
const lastLog = (s: Stack, route: string): Record<string, unknown> | undefined => s.logs.filter((l) => l['route'] === route).at(-1);

async function events(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const out: ResponseStreamEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

for (const pool of ['0', '2']) {
  t.test(`POOL_SIZE=${pool}`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool });

    t.test('responses.create (non-stream): the response object, usage, the chat body upstream', async (t) => {
      const r = await s.client.responses.create({
        model: 'sim/reasoning;reasoning=2;tokens=3', instructions: 'Be brief.', input: 'hi', max_output_tokens: 50, temperature: 0.5,
      });
      t.equal(r.object, 'response', 'a Responses object');
      t.match(r.id, /^resp_/, 'response id');
      t.equal(r.status, 'completed');
      t.equal(r.output_text, 'tok0 tok1 tok2 ', 'output_text assembled by the SDK from the message item');
      t.same(r.output.map((o) => o.type), ['reasoning', 'message'], 'reasoning item, then the message');
      t.equal(r.usage?.output_tokens, 5, 'reasoning tokens count as output');
      t.ok((r.usage?.input_tokens ?? 0) > 0, 'input tokens reported');
      t.equal(r.temperature, 0.5, 'request fields echoed');
      t.equal((r as unknown as { store?: unknown }).store, false, 'nothing is stored');
      t.match(upstreamChat(s), { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 50, temperature: 0.5 });
      t.notOk(upstreamChat(s)['stream'], 'non-stream upstream');
      await idle(s.service);
      t.match(lastLog(s, '/v1/responses'), { status: 200, model: 'sim/reasoning;reasoning=2;tokens=3', stream: false, completion_tokens: 5 });
    });

    t.test('responses.create stream: true: the spec event sequence, ending at response.completed', async (t) => {
      const list = await events(await s.client.responses.create({ model: 'sim/echo;tokens=4', input: 'hi', stream: true }));
      const types = list.map((e) => e.type);
      t.same(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'], 'opening events');
      t.same(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'], 'closing events');
      t.same(list.map((e) => e.sequence_number), list.map((_, i) => i), 'sequence numbers 0, 1, 2 …');
      const text = list.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
      t.equal(text, 'tok0 tok1 tok2 tok3 ', 'the deltas are the text');
      const done = list.at(-1);
      t.ok(done?.type === 'response.completed' && done.response.usage?.output_tokens === 4, 'usage on response.completed');
      t.match(upstreamChat(s), { stream: true, stream_options: { include_usage: true } }, 'upstream asked for the usage chunk');
      await idle(s.service);
      t.match(lastLog(s, '/v1/responses'), { status: 200, stream: true, outcome: 'ok', events: list.length, completion_tokens: 4 });
    });

    t.test('the responses.stream helper: text deltas and the final response', async (t) => {
      const stream = s.client.responses.stream({ model: 'sim/echo;tokens=3', input: [{ role: 'user', content: 'hi' }] });
      let deltas = '';
      stream.on('response.output_text.delta', (e) => (deltas += e.delta));
      const final = await stream.finalResponse();
      t.equal(deltas, 'tok0 tok1 tok2 ');
      t.equal(final.output_text, 'tok0 tok1 tok2 ');
      t.equal(final.status, 'completed');
    });
  });
}

t.test('tool round trip: a function_call out, its output back in, the final text', async (t) => {
  const s = await startStack(t, {});
  for (const stream of [false, true]) {
    const first = stream
      ? await s.client.responses.stream({ model: 'sim/tools', input: 'Weather in Paris?', tools: [weatherTool] }).finalResponse()
      : await s.client.responses.create({ model: 'sim/tools', input: 'Weather in Paris?', tools: [weatherTool] });
    const call = first.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error(`no function_call in ${JSON.stringify(first.output)}`);
    t.equal(call.name, TOOL_NAME, `stream=${stream}: the tool the model called`);
    t.same(JSON.parse(call.arguments), { city: 'Paris' }, `stream=${stream}: its arguments, whole`);
    t.match(upstreamChat(s), { tools: [{ type: 'function', function: { name: TOOL_NAME, parameters: weatherTool.parameters } }] }, 'tools translated to chat form');
    const second = await s.client.responses.create({
      model: 'sim/tools', tools: [weatherTool],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"sky":"sunny"}' },
      ],
    });
    t.equal(second.output_text, 'The tool said: {"sky":"sunny"}', `stream=${stream}: the answer used the tool output`);
    t.match(upstreamChat(s), {
      messages: [{ role: 'user' }, { role: 'assistant', tool_calls: [{ id: call.call_id, function: { name: TOOL_NAME } }] }, { role: 'tool', tool_call_id: call.call_id }],
    }, 'call and output became chat messages');
  }
});

t.test('previous_response_id and store: true are clear 400s that never reach the upstream', async (t) => {
  const s = await startStack(t, {});
  const before = s.sim.stats.requests;
  const prev = await s.client.responses.create({ model: 'm', input: 'hi', previous_response_id: 'resp_123' }).catch((e: unknown) => e);
  t.ok(prev instanceof OpenAI.BadRequestError, 'previous_response_id: 400');
  t.match((prev as InstanceType<typeof OpenAI.BadRequestError>).error, { param: 'previous_response_id', type: 'invalid_request_error', message: /keeps no state/ });
  const store = await s.client.responses.create({ model: 'm', input: 'hi', store: true, stream: true }).catch((e: unknown) => e);
  t.ok(store instanceof OpenAI.BadRequestError, 'store: true: 400 (stream too)');
  t.match((store as InstanceType<typeof OpenAI.BadRequestError>).error, { param: 'store', message: /store: true/ });
  const fine = await s.client.responses.create({ model: 'sim/echo;tokens=1', input: 'hi', store: false });
  t.equal(fine.status, 'completed', 'store: false is fine');
  const noInput = await fetch(`${s.baseURL}/responses`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{"model":"m"}' });
  t.equal(noInput.status, 400, 'missing input: 400');
  t.match(await noInput.json(), { error: { param: 'input', code: 'invalid_request' } });
  t.equal(s.sim.stats.requests, before + 1, 'only the valid request reached the upstream');
});

t.test('a failure mid-stream ends with response.failed (no [DONE]); before the first event it is a status', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0' });
  for (const [model, code] of [['sim/errorevent;after=3', 'upstream_error_event'], ['sim/reset;after=3', 'upstream_reset'], ['sim/nodone;tokens=3', null]] as const) {
    const res = await fetch(`${s.baseURL}/responses`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, input: 'x', stream: true }),
    });
    t.equal(res.status, 200, `${model}: the stream had started`);
    const body = await res.text();
    t.notMatch(body, /\[DONE\]/, `${model}: a Responses stream has no [DONE]`);
    const last = JSON.parse(/data: (.*)\n\n$/.exec(body)?.[1] ?? '{}') as { type?: string; response?: { status?: string; error?: unknown; output?: unknown[] } };
    if (code === null) {
      // finish_reason then a clean close without [DONE]: a complete response
      t.equal(last.type, 'response.completed', `${model}: completed`);
      continue;
    }
    t.equal(last.type, 'response.failed', `${model}: the last event is response.failed`);
    t.match(last.response, { status: 'failed', error: { code } }, `${model}: its error code`);
    t.match(last.response?.output, [{ type: 'message', status: 'incomplete', content: [{ text: 'tok0 tok1 ' }] }], `${model}: the output so far (the role chunk and two tokens)`);
    await idle(s.service);
    t.match(lastLog(s, '/v1/responses'), { status: 200, code, stream: true }, `${model}: logged with its code`);
  }
  // through the SDK: the stream yields response.failed as its last event
  const list = await events(await s.client.responses.create({ model: 'sim/errorevent;after=2', input: 'x', stream: true }));
  t.equal(list.at(-1)?.type, 'response.failed', 'the SDK sees response.failed');
  // before any event: the upstream's status (or ours), never a 200
  const early = await s.client.responses.create({ model: 'sim/error500', input: 'x', stream: true }).catch((e: unknown) => e);
  t.ok(early instanceof OpenAI.InternalServerError, 'upstream 500 before the first byte stays a 500');
  const reset = await s.client.responses.create({ model: 'sim/reset;after=0', input: 'x', stream: true }).catch((e: unknown) => e);
  t.ok(reset instanceof OpenAI.APIError && reset.status === 502, `reset before the first event: 502 (got ${String(reset)})`);
});

t.test("the worker's failure texts are the error table's", async (t) => {
  for (const [code, text] of Object.entries(FAILURE_TEXT)) t.equal(text, ERRORS[code as ErrorCode].message, code);
});

t.test('a failure the proxy causes mid-stream (MAX_CONNECTION_TIME) ends with a Responses error event the SDK raises', async (t) => {
  const s = await startStack(t, { MAX_CONNECTION_TIME: '400' });
  const res = await fetch(`${s.baseURL}/responses`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim/echo;tokens=100;interval=20', input: 'x', stream: true }),
  });
  const body = await res.text();
  t.equal(res.status, 200, 'the stream had started');
  t.match(body, /event: response\.output_text\.delta\n/, 'events went out first');
  const tail = /event: (\S+)\ndata: (.*)\n\n$/.exec(body);
  t.equal(tail?.[1], 'error', 'the last event is an error event');
  t.match(JSON.parse(tail?.[2] ?? '{}'), { type: 'error', code: 'max_connection_time', message: String, sequence_number: Number, error: { code: 'max_connection_time' } });
  t.notMatch(body, /\[DONE\]/, 'no [DONE]');
  const err = await events(await s.client.responses.create({ model: 'sim/echo;tokens=100;interval=20', input: 'x', stream: true })).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.APIError, `the openai SDK raises it (got ${String(err)})`);
  await idle(s.service);
  t.match(lastLog(s, '/v1/responses'), { status: 200, code: 'max_connection_time' });
});
