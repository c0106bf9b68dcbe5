// Unit tests of the Responses API translation (workers/responses): request mapping, refusals, non-stream and
// stream output; then the official openai SDK parsing it, through the proxy in front of the simulator.
import t from 'tap';
import OpenAI from 'openai';
import { chatToResponse } from '../workers/responses/reply.js';
import { translateBody, translateRequest, type TranslatedRequest } from '../workers/responses/request.js';
import { newResponseContext, type ResponseContext } from '../workers/responses/shape.js';
import { ResponsesStream } from '../workers/responses/stream.js';
import { TOOL_ARGS, TOOL_NAME } from '../src/simulator/index.js';
import { startStack } from './helpers/harness.js';

type Json = Record<string, unknown>;
interface Ev { event: string; data: Json }

function ok(v: unknown): TranslatedRequest {
  const r = translateRequest(v);
  if (!r.ok) throw new Error(`expected ok, got ${r.message}`);
  return r;
}

function ctxOf(model = 'm', extra: Json = {}): ResponseContext {
  const r = ok({ model, input: 'x', ...extra });
  return newResponseContext(r.model, r.echo, { id: 'resp_test', now: 1_700_000_000_000 });
}

/** Parses SSE text into events, checking each has `event:` equal to its data's type. */
function parse(text: string): Ev[] {
  const out: Ev[] = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    const [e, d, ...rest] = block.split('\n');
    if (!e?.startsWith('event: ') || !d?.startsWith('data: ') || rest.length > 0) throw new Error(`bad event block: ${block}`);
    const data = JSON.parse(d.slice(6)) as Json;
    if (data['type'] !== e.slice(7)) throw new Error(`event ${e} carries type ${String(data['type'])}`);
    out.push({ event: e.slice(7), data });
  }
  return out;
}

const chunk = (delta: Json, finish: string | null = null): Json => ({
  id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'up/model',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const usageChunk = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'up/model', choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12, completion_tokens_details: { reasoning_tokens: 2 } } };

/** Runs a whole stream: start, the chunks, then finish. */
function play(chunks: Json[], ctx = ctxOf()): { events: Ev[]; s: ResponsesStream } {
  const s = new ResponsesStream(ctx);
  let text = s.start();
  for (const c of chunks) text += s.onChunk(c);
  text += s.finish();
  return { events: parse(text), s };
}

t.test('request: string input, instructions and sampling fields', async (t) => {
  const r = ok({
    model: 'meta/llama', input: 'Hello', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, top_p: 0.9,
    user: 'u-1', metadata: { k: 'v' }, store: false, include: ['x'], some_future_field: 1,
  });
  t.same(r.chat, {
    model: 'meta/llama',
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }],
    max_tokens: 50, temperature: 0.2, top_p: 0.9, user: 'u-1',
  });
  t.equal(r.stream, false);
  t.equal(r.model, 'meta/llama');
  t.match(r.echo, { instructions: 'Be brief.', temperature: 0.2, top_p: 0.9, max_output_tokens: 50, metadata: { k: 'v' }, user: 'u-1', tool_choice: 'auto', tools: [], parallel_tool_calls: true });
  const s = ok({ model: 'm', input: 'x', stream: true });
  t.same(s.chat, { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
  t.equal(s.stream, true);
  t.same(ok({ model: 'm', input: 'x' }).echo.metadata, {});
});

t.test('request: item lists, content parts, function calls and their outputs', async (t) => {
  const r = ok({
    model: 'm',
    input: [
      { role: 'developer', content: 'dev rules' },
      { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'sys ' }, { type: 'input_text', text: 'more' }] },
      { role: 'user', content: [{ type: 'input_text', text: 'what is this?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAA', detail: 'low' }] },
      { role: 'user', content: [{ type: 'input_text', text: 'one part' }] },
      { type: 'reasoning', id: 'rs_1', summary: [] },
      { type: 'message', role: 'assistant', id: 'msg_1', status: 'completed', content: [{ type: 'output_text', text: 'Let me check.', annotations: [] }] },
      { type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', id: 'fc_1' },
      { type: 'function_call', call_id: 'call_b', name: 'get_time', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_a', output: 'sunny' },
      { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: '12:00' }] },
      { type: 'function_call', call_id: 'call_c', name: 'again', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_c', output: 'x' },
      { role: 'user', content: 'thanks' },
    ],
  });
  t.same(r.chat['messages'], [
    { role: 'system', content: 'dev rules' },
    { role: 'system', content: 'sys more' },
    { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA', detail: 'low' } }] },
    { role: 'user', content: 'one part' },
    {
      role: 'assistant', content: 'Let me check.', tool_calls: [
        { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_a', content: 'sunny' },
    { role: 'tool', tool_call_id: 'call_b', content: '12:00' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_c', type: 'function', function: { name: 'again', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_c', content: 'x' },
    { role: 'user', content: 'thanks' },
  ]);
  const file = ok({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_data: 'data:application/pdf;base64,AA', filename: 'a.pdf' }, { type: 'input_text', text: 'sum' }] }] });
  t.same((file.chat['messages'] as Json[])[0], { role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,AA', filename: 'a.pdf' } }, { type: 'text', text: 'sum' }] });
});

t.test('request: tools, tool_choice, text.format and reasoning', async (t) => {
  const tools = [
    { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
    { type: 'function', name: 'get_time', parameters: null, strict: null },
  ];
  const r = ok({ model: 'm', input: 'x', tools, tool_choice: { type: 'function', name: 'get_weather' }, parallel_tool_calls: false });
  t.same(r.chat['tools'], [
    { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } },
    { type: 'function', function: { name: 'get_time' } },
  ]);
  t.same(r.chat['tool_choice'], { type: 'function', function: { name: 'get_weather' } });
  t.equal(r.chat['parallel_tool_calls'], false);
  t.same(r.echo.tools, tools, 'tools echoed in their Responses form');
  t.same(r.echo.tool_choice, { type: 'function', name: 'get_weather' });
  for (const c of ['none', 'auto', 'required']) t.equal(ok({ model: 'm', input: 'x', tools, tool_choice: c }).chat['tool_choice'], c);
  const allowed = ok({ model: 'm', input: 'x', tools, tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'get_time' }] } });
  t.same(allowed.chat['tools'], [{ type: 'function', function: { name: 'get_time' } }]);
  t.equal(allowed.chat['tool_choice'], 'required');
  const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
  const js = ok({ model: 'm', input: 'x', text: { format: { type: 'json_schema', name: 'out', schema, strict: true, description: 'd' } } });
  t.same(js.chat['response_format'], { type: 'json_schema', json_schema: { name: 'out', schema, description: 'd', strict: true } });
  t.same(js.echo.text, { format: { type: 'json_schema', name: 'out', schema, strict: true, description: 'd' } });
  t.same(ok({ model: 'm', input: 'x', text: { format: { type: 'json_object' } } }).chat['response_format'], { type: 'json_object' });
  t.notOk('response_format' in ok({ model: 'm', input: 'x', text: { format: { type: 'text' } } }).chat);
  t.equal(ok({ model: 'm', input: 'x', reasoning: { effort: 'low', summary: 'auto' } }).chat['reasoning_effort'], 'low');
  t.notOk('metadata' in ok({ model: 'm', input: 'x', metadata: { a: '1' } }).chat, 'metadata stays in the echo');
});

t.test('request: clear 400s with param', async (t) => {
  const cases: Array<[Json, string | null, RegExp]> = [
    [{ model: 'm', input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id', /keeps no state/],
    [{ model: 'm', input: 'x', store: true }, 'store', /keeps no state/],
    [{ model: 'm', input: 'x', conversation: 'conv_1' }, 'conversation', /keeps no state/],
    [{ model: 'm', input: 'x', background: true }, 'background', /keeps no state/],
    [{ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type', /keeps no state.*store to false/],
    [{ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', /'web_search' is not supported/],
    [{ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }, { type: 'file_search', vector_store_ids: [] }] }, 'tools[1].type', /'file_search'/],
    [{ model: 'm', input: 'x', tool_choice: { type: 'web_search_preview' } }, 'tool_choice', /not supported/],
    [{ model: 'm' }, 'input', /Missing required parameter: 'input'/],
    [{ input: 'x' }, 'model', /Invalid value for 'model'/],
    [{ model: 'm', input: 'x', temperature: 'hot' }, 'temperature', /Invalid value for 'temperature'/],
    [{ model: 'm', input: 'x', max_output_tokens: 0 }, 'max_output_tokens', /max_output_tokens/],
    [{ model: 'm', input: 42 }, 'input', /string or an array/],
    [{ model: 'm', input: [] }, 'input', /at least one message/],
    [{ model: 'm', input: [{ role: 'robot', content: 'x' }] }, 'input[0].role', /role/],
    [{ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }, 'input[0].content[0].image_url', /file storage/],
    [{ model: 'm', input: [{ role: 'user', content: [{ type: 'input_video' }] }] }, 'input[0].content[0].type', /'input_video' is not supported/],
    [{ model: 'm', input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'http://x' }] }] }, 'input[0].content', /only carry text/],
    [{ model: 'm', input: [{ type: 'function_call', name: 'f' }] }, 'input[0].call_id', /call_id/],
    [{ model: 'm', input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_image', image_url: 'u' }] }] }, 'input[0].output[0]', /text parts/],
    [{ model: 'm', input: [{ type: 'computer_call_output', call_id: 'c' }] }, 'input[0].type', /'computer_call_output' are not supported/],
    [{ model: 'm', input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name', /name/],
    [{ model: 'm', input: 'x', tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'mcp' }] } }, 'tool_choice.tools[0]', /function/],
  ];
  for (const [body, param, message] of cases) {
    const r = translateRequest(body);
    t.equal(r.ok, false, JSON.stringify(body));
    if (r.ok) continue;
    t.equal(r.code, 'invalid_request');
    t.equal(r.param, param, `param of ${JSON.stringify(body)}`);
    t.match(r.message, message);
  }
  t.match(translateRequest([1]), { ok: false, param: null, message: /JSON object/ });
  t.equal(translateRequest({ model: 'm', input: 'x', store: false, previous_response_id: null }).ok, true, 'store false and null id are fine');
});

t.test('translateBody: raw bytes, refused like the other routes when not UTF-8 JSON', async (t) => {
  t.match(translateBody(Buffer.from(JSON.stringify({ model: 'm', input: 'x' }))), { ok: true, model: 'm' });
  t.match(translateBody(Buffer.from([0x7b, 0xff, 0x7d])), { ok: false, code: 'invalid_utf8', param: null });
  t.match(translateBody(Buffer.from('{"model":')), { ok: false, code: 'invalid_json', param: null });
  t.match(translateBody(Buffer.from('{"model":"m","input":"x","store":true}')), { ok: false, code: 'invalid_request', param: 'store' });
});

t.test('non-stream: text, reasoning, tool calls, usage, incomplete', async (t) => {
  const ctx = ctxOf('asked', { instructions: 'I', temperature: 0.5, metadata: { a: 'b' } });
  const r = chatToResponse({
    id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'up/model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there', reasoning_content: 'thinking' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: { cached_tokens: 1 } },
  }, ctx);
  if (!r.ok) throw new Error(r.message);
  t.match(r.response, {
    id: 'resp_test', object: 'response', created_at: 1_700_000_000, status: 'completed', error: null, incomplete_details: null,
    model: 'up/model', instructions: 'I', temperature: 0.5, metadata: { a: 'b' }, store: false, previous_response_id: null,
    output: [
      { id: 'rs_test_0', type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text: 'thinking' }] },
      { id: 'msg_test_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hi there', annotations: [] }] },
    ],
    usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7, input_tokens_details: { cached_tokens: 1 }, output_tokens_details: { reasoning_tokens: 0 } },
  });
  t.equal(typeof r.response['completed_at'], 'number');
  const calls = chatToResponse({
    model: 'up', choices: [{ message: { role: 'assistant', content: null, tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } },
      { id: 'call_2', type: 'function', function: { name: 'b', arguments: '{}' } },
    ] }, finish_reason: 'tool_calls' }],
  }, ctx);
  if (!calls.ok) throw new Error(calls.message);
  t.same(calls.response['output'], [
    { id: 'fc_test_0', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'a', arguments: '{"x":1}' },
    { id: 'fc_test_1', type: 'function_call', status: 'completed', call_id: 'call_2', name: 'b', arguments: '{}' },
  ]);
  t.equal(calls.response['usage'], null);
  const cut = chatToResponse({ choices: [{ message: { content: 'abc' }, finish_reason: 'length' }] }, ctx);
  t.match(cut, { ok: true, finishReason: 'length', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, output: [{ status: 'incomplete' }], model: 'asked' } });
  t.match(chatToResponse({ choices: [{ message: { content: 'x' }, finish_reason: 'content_filter' }] }, ctx), { response: { incomplete_details: { reason: 'content_filter' } } });
  const vllm = chatToResponse({ choices: [{ message: { content: 'a', reasoning: 'r' }, finish_reason: 'stop' }] }, ctx);
  t.match(vllm, { ok: true, response: { output: [{ type: 'reasoning', content: [{ text: 'r' }] }, { type: 'message' }] } }, 'vLLM `reasoning` field');
  for (const badJson of [null, [], { choices: [] }, { choices: [{}] }]) {
    t.match(chatToResponse(badJson, ctx), { ok: false, code: 'upstream_bad_response', param: null });
  }
});

t.test('stream: text events in order, sequence numbers, ids, usage', async (t) => {
  const { events, s } = play([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }, 'stop'), usageChunk]);
  t.same(events.map((e) => e.event), [
    'response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.completed',
  ]);
  t.same(events.map((e) => e.data['sequence_number']), events.map((_, i) => i));
  t.match(events[0]?.data, { response: { id: 'resp_test', status: 'in_progress', output: [], usage: null } });
  const added = events[2]?.data as { item: Json; output_index: number };
  t.match(added, { output_index: 0, item: { id: 'msg_test_0', type: 'message', role: 'assistant', status: 'in_progress', content: [] } });
  for (const e of events.slice(3, 8)) t.match(e.data, { item_id: 'msg_test_0', output_index: 0, content_index: 0 });
  t.same(events.slice(4, 6).map((e) => e.data['delta']), ['Hel', 'lo']);
  t.equal(events[6]?.data['text'], 'Hello');
  t.same(events[7]?.data['part'], { type: 'output_text', text: 'Hello', annotations: [], logprobs: [] });
  t.match(events[8]?.data, { output_index: 0, item: { id: 'msg_test_0', status: 'completed', content: [{ type: 'output_text', text: 'Hello' }] } });
  t.match(events[9]?.data, {
    response: {
      id: 'resp_test', status: 'completed', model: 'up/model', output: [{ id: 'msg_test_0', content: [{ text: 'Hello' }] }],
      usage: { input_tokens: 7, output_tokens: 5, total_tokens: 12, output_tokens_details: { reasoning_tokens: 2 } },
    },
  });
  t.equal(s.ended, true);
  t.equal(s.finishReason, 'stop');
  t.equal(s.events, events.length);
  t.equal(s.finish() + s.fail('x', 'y') + s.onChunk(chunk({ content: 'late' })), '', 'nothing after the end');
});

t.test('stream: reasoning then text become two items', async (t) => {
  const { events } = play([chunk({ reasoning_content: 'hmm ' }), chunk({ reasoning_content: 'ok' }), chunk({ content: 'Answer' }, 'stop')]);
  t.same(events.map((e) => e.event), [
    'response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added', 'response.reasoning_text.delta', 'response.reasoning_text.delta',
    'response.reasoning_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.completed',
  ]);
  t.match(events[2]?.data, { output_index: 0, item: { id: 'rs_test_0', type: 'reasoning', summary: [] } });
  t.same(events[3]?.data['part'], { type: 'reasoning_text', text: '' });
  t.equal(events[6]?.data['text'], 'hmm ok');
  t.match(events[9]?.data, { output_index: 1, item: { id: 'msg_test_1', type: 'message' } });
  const done = events.at(-1)?.data['response'] as { output: Json[]; usage: unknown };
  t.match(done.output, [{ type: 'reasoning', content: [{ type: 'reasoning_text', text: 'hmm ok' }] }, { type: 'message', content: [{ text: 'Answer' }] }]);
  t.equal(done.usage, null, 'no usage chunk: usage null');
});

t.test('stream: several tool calls across chunks', async (t) => {
  const tc = (c: Json): Json => chunk({ tool_calls: [c] });
  const { events } = play([
    chunk({ role: 'assistant', content: null }),
    tc({ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }),
    tc({ index: 0, function: { arguments: '{"city":' } }),
    tc({ index: 0, function: { arguments: '"Paris"}' } }),
    tc({ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }),
    chunk({}, 'tool_calls'),
    usageChunk,
  ]);
  t.same(events.map((e) => e.event), [
    'response.created', 'response.in_progress',
    'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
    'response.output_item.added', 'response.function_call_arguments.delta',
    'response.function_call_arguments.done', 'response.output_item.done',
    'response.function_call_arguments.done', 'response.output_item.done',
    'response.completed',
  ]);
  t.match(events[2]?.data, { output_index: 0, item: { id: 'fc_test_0', type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '', status: 'in_progress' } });
  t.match(events[3]?.data, { item_id: 'fc_test_0', output_index: 0, delta: '{"city":' });
  t.match(events[5]?.data, { output_index: 1, item: { id: 'fc_test_1', call_id: 'call_b', name: 'get_time' } });
  t.match(events[7]?.data, { item_id: 'fc_test_0', output_index: 0, name: 'get_weather', arguments: '{"city":"Paris"}' });
  t.match(events[9]?.data, { item_id: 'fc_test_1', output_index: 1, name: 'get_time', arguments: '{}' });
  t.match(events.at(-1)?.data, { response: { status: 'completed', output: [
    { type: 'function_call', call_id: 'call_a', arguments: '{"city":"Paris"}', status: 'completed' },
    { type: 'function_call', call_id: 'call_b', arguments: '{}', status: 'completed' },
  ] } });
});

t.test('stream: a call whose name comes late, text after reasoning then a call', async (t) => {
  const { events } = play([
    chunk({ content: 'Checking.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_x', function: { arguments: '{"a"' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: ':1}' } }] }, 'tool_calls'),
  ]);
  const types = events.map((e) => e.event);
  t.ok(types.indexOf('response.output_item.done') < types.lastIndexOf('response.output_item.added'), 'message closed before the call opens');
  const added = events.filter((e) => e.event === 'response.output_item.added').map((e) => e.data['item'] as Json);
  t.match(added, [{ type: 'message' }, { type: 'function_call', name: 'f', call_id: 'call_x' }]);
  const deltas = events.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data['delta']);
  t.same(deltas, ['{"a":1}'], 'arguments held until the name is known go out with it');
  t.match(events.at(-1)?.data, { response: { output: [{ type: 'message', content: [{ text: 'Checking.' }] }, { type: 'function_call', arguments: '{"a":1}' }] } });
});

t.test('stream: finish_reason length ends with response.incomplete', async (t) => {
  const { events } = play([chunk({ content: 'abc' }, 'length')]);
  const last = events.at(-1);
  t.equal(last?.event, 'response.incomplete');
  t.match(last?.data, { response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, output: [{ status: 'incomplete' }] } });
  t.match(events.find((e) => e.event === 'response.output_item.done')?.data, { item: { status: 'incomplete' } });
});

t.test('stream: a failure after the first byte ends with response.failed', async (t) => {
  const s = new ResponsesStream(ctxOf());
  let text = s.start() + s.onChunk(chunk({ content: 'partial' }));
  text += s.fail('upstream_reset', 'The upstream connection was reset.');
  const events = parse(text);
  t.same(events.map((e) => e.event).slice(-2), ['response.output_text.delta', 'response.failed']);
  t.match(events.at(-1)?.data, {
    sequence_number: events.length - 1,
    response: { status: 'failed', error: { code: 'upstream_reset', message: 'The upstream connection was reset.' }, output: [{ type: 'message', status: 'incomplete', content: [{ text: 'partial' }] }] },
  });
  t.equal(s.ended, true);
  t.equal(s.finish(), '');
  const early = parse(new ResponsesStream(ctxOf()).fail('upstream_idle_timeout', 'idle'));
  t.same(early.map((e) => e.event), ['response.created', 'response.in_progress', 'response.failed'], 'start owed before the failure');
});

t.test('stream: onChunk without start() starts; choices other than 0 and odd chunks are ignored', async (t) => {
  const s = new ResponsesStream(ctxOf());
  const events = parse(s.onChunk({ choices: [{ index: 1, delta: { content: 'other' } }] }) + s.onChunk({ choices: 'x' }) + s.onChunk(chunk({ content: 'a' })) + s.finish());
  t.equal(events[0]?.event, 'response.created');
  t.match(events.at(-1)?.data, { response: { output: [{ content: [{ text: 'a' }] }] } });
});

t.test('the official openai SDK parses it (through the proxy in front of the simulator)', async (t) => {
  const { sim, client } = await startStack(t, { MAX_RETRIES: '0' });
  /** The chat bodies the proxy sent upstream. */
  const upstream = {
    get sent(): Json[] {
      return sim.requests.filter((r) => r.path === '/v1/openai/chat/completions').map((r) => JSON.parse(r.body.toString('utf8')) as Json);
    },
  };
  const weather = { type: 'function' as const, name: TOOL_NAME, description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true };

  t.test('create, non-stream', async (t) => {
    const r = await client.responses.create({ model: 'sim/echo;tokens=3', input: 'hi', instructions: 'sys', max_output_tokens: 10 });
    t.equal(r.object, 'response');
    t.equal(r.status, 'completed');
    t.equal(r.output_text, 'tok0 tok1 tok2 ');
    t.match(r.usage, { input_tokens: Number, output_tokens: 3 });
    t.match(upstream.sent.at(-1), { messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'hi' }], max_tokens: 10 });
  });

  t.test('create, stream: events iterate in order', async (t) => {
    const stream = await client.responses.create({ model: 'sim/reasoning;reasoning=2;tokens=3', input: 'hi', stream: true });
    const types: string[] = [];
    let text = '';
    let last = -1;
    for await (const ev of stream) {
      types.push(ev.type);
      t.equal(ev.sequence_number, last + 1);
      last = ev.sequence_number;
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    t.equal(text, 'tok0 tok1 tok2 ');
    t.equal(types[0], 'response.created');
    t.equal(types.at(-1), 'response.completed');
    t.ok(types.includes('response.reasoning_text.delta'));
  });

  t.test('responses.stream helper: finalResponse and output_text', async (t) => {
    const stream = client.responses.stream({ model: 'sim/reasoning;reasoning=2;tokens=2', input: 'hi' });
    let deltas = '';
    stream.on('response.output_text.delta', (e) => (deltas += e.delta));
    const final = await stream.finalResponse();
    t.equal(final.status, 'completed');
    t.equal(final.output_text, 'tok0 tok1 ');
    t.equal(deltas, 'tok0 tok1 ');
    const reasoning = final.output.find((o) => o.type === 'reasoning');
    t.equal(reasoning?.type === 'reasoning' ? reasoning.content?.[0]?.text : undefined, 'think0 think1 ');
    t.match(final.usage, { input_tokens: Number, output_tokens: 4, total_tokens: Number });
  });

  t.test('tool call round trip, streamed and not', async (t) => {
    const stream = client.responses.stream({ model: 'sim/tools;calls=2', input: 'Weather in Paris?', tools: [weather] });
    const argDeltas: string[] = [];
    stream.on('response.function_call_arguments.delta', (e) => argDeltas.push(e.delta));
    const final = await stream.finalResponse();
    const calls = final.output.filter((o) => o.type === 'function_call');
    t.equal(calls.length, 2);
    for (const c of calls) {
      t.equal(c.name, TOOL_NAME);
      t.same(JSON.parse(c.arguments), JSON.parse(TOOL_ARGS));
    }
    t.ok(argDeltas.length > 2, 'arguments streamed in pieces');
    t.match(upstream.sent.at(-1), { tools: [{ type: 'function', function: { name: TOOL_NAME, strict: true } }], stream: true, stream_options: { include_usage: true } });
    const call = calls[0];
    if (call?.type !== 'function_call') throw new Error('no call');
    const next = await client.responses.create({
      model: 'sim/tools', tools: [weather],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' },
      ],
    });
    t.equal(next.output_text, 'The tool said: sunny, 21C');
    t.match(upstream.sent.at(-1), { messages: [{ role: 'user' }, { role: 'assistant', tool_calls: [{ id: call.call_id }] }, { role: 'tool', tool_call_id: call.call_id, content: 'sunny, 21C' }] });
  });

  t.test('length → incomplete; mid-stream failure → response.failed; refusals → 400', async (t) => {
    const cut = await client.responses.stream({ model: 'sim/echo;tokens=10', input: 'x', max_output_tokens: 2 }).finalResponse();
    t.equal(cut.status, 'incomplete');
    t.equal(cut.incomplete_details?.reason, 'max_output_tokens');
    t.equal(cut.output_text, 'tok0 tok1 ');
    const failed = await client.responses.stream({ model: 'sim/errorevent;after=3', input: 'x' }).finalResponse();
    t.equal(failed.status, 'failed');
    t.match(failed.error, { code: 'upstream_error_event', message: String });
    const truncated = await client.responses.stream({ model: 'sim/close;after=3', input: 'x' }).finalResponse();
    t.match(truncated, { status: 'failed', error: { code: 'upstream_truncated' } });
    const err = await client.responses.create({ model: 'm', input: 'x', previous_response_id: 'resp_1' }).catch((e: unknown) => e);
    t.ok(err instanceof OpenAI.BadRequestError);
    t.match((err as InstanceType<typeof OpenAI.BadRequestError>).error, { param: 'previous_response_id', message: /keeps no state/ });
    const upstream = await client.responses.create({ model: 'sim/error429', input: 'x' }).catch((e: unknown) => e);
    t.ok(upstream instanceof OpenAI.RateLimitError, 'upstream errors keep their status');
  });
});
