// A Responses API request → the chat-completions body to send upstream, plus the fields the response echoes.
import { z } from 'zod';
import { decodeJson, type InvalidRequest } from '../validate.js';
import { inputToMessages } from './input.js';
import { invalid, isInvalid, isObj, type Invalid, type Obj, type ResponseEcho } from './shape.js';

export interface TranslatedRequest {
  readonly ok: true;
  /** The chat-completions body for the upstream's `/chat/completions`. */
  readonly chat: Obj;
  readonly stream: boolean;
  readonly model: string;
  readonly echo: ResponseEcho;
}

const num = z.number().finite().nullable().optional();
const top = z.object({
  model: z.string().min(1).max(256),
  input: z.unknown(),
  instructions: z.string().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  temperature: num,
  top_p: num,
  max_output_tokens: z.number().int().min(1).nullable().optional(),
  tools: z.array(z.unknown()).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  metadata: z.record(z.unknown()).nullable().optional(),
  user: z.string().nullable().optional(),
  text: z.object({ format: z.unknown().optional() }).passthrough().nullable().optional(),
  reasoning: z.object({ effort: z.string().nullable().optional() }).passthrough().nullable().optional(),
  truncation: z.string().nullable().optional(),
}).passthrough();

const STATELESS = 'this proxy keeps no state (each response is translated onto a stateless chat completion)';

/** Parameters that only make sense with server-side state: present (and not null/false), they are refused. */
const STATEFUL: ReadonlyArray<readonly [string, (v: unknown) => boolean, string]> = [
  ['previous_response_id', (v) => v != null, `'previous_response_id' is not supported: ${STATELESS}; send the whole conversation in 'input'.`],
  ['store', (v) => v === true, `'store: true' is not supported: ${STATELESS}; send store: false (or omit it) and keep the conversation client-side.`],
  ['conversation', (v) => v != null, `'conversation' is not supported: ${STATELESS}; send the whole conversation in 'input'.`],
  ['background', (v) => v === true, `'background: true' is not supported: ${STATELESS}.`],
  ['prompt', (v) => v != null, `Stored prompts ('prompt') are not supported: ${STATELESS}.`],
];

/** The raw request body → translateRequest (invalid UTF-8 and JSON are refused as on the other routes). */
export function translateBody(body: Uint8Array): TranslatedRequest | InvalidRequest {
  const decoded = decodeJson(body);
  return decoded.ok ? translateRequest(decoded.value) : decoded;
}

/** Validates a parsed Responses request body and translates it. Unknown extra fields are ignored. */
export function translateRequest(value: unknown): TranslatedRequest | Invalid {
  if (!isObj(value)) return invalid(null, 'The request body must be a JSON object.');
  for (const [param, present, message] of STATEFUL) if (present(value[param])) return invalid(param, message);
  const parsed = top.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue && issue.path.length > 0 ? issue.path.join('.') : null;
    const what = issue ? issue.message : 'invalid';
    return invalid(param, param ? `Invalid value for '${param}': ${what}` : `Invalid request: ${what}`);
  }
  const r = parsed.data;
  if (r.input === undefined || r.input === null) return invalid('input', "Missing required parameter: 'input'.");
  const instructions = r.instructions ?? null;
  const msgs = inputToMessages(r.input, instructions);
  if (!msgs.ok) return msgs;

  const stream = r.stream === true;
  const chat: Obj = { model: r.model, messages: msgs.messages };
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (r.max_output_tokens != null) chat.max_tokens = r.max_output_tokens;
  if (r.temperature != null) chat.temperature = r.temperature;
  if (r.top_p != null) chat.top_p = r.top_p;
  if (r.user != null) chat.user = r.user;
  if (r.parallel_tool_calls != null) chat.parallel_tool_calls = r.parallel_tool_calls;
  const effort = r.reasoning?.effort;
  if (typeof effort === 'string') chat.reasoning_effort = effort;

  const tools = mapTools(r.tools ?? []);
  if (!Array.isArray(tools)) return tools;
  const choice = mapToolChoice(value.tool_choice, tools);
  if (!choice.ok) return choice;
  if (choice.tools.length > 0) chat.tools = choice.tools;
  if (choice.choice !== undefined) chat.tool_choice = choice.choice;

  const format = mapFormat(r.text?.format);
  if (isInvalid(format)) return format;
  if (format !== undefined) chat.response_format = format;

  const echo: ResponseEcho = {
    instructions,
    temperature: r.temperature ?? null,
    top_p: r.top_p ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    tools: r.tools ?? [],
    tool_choice: value.tool_choice ?? 'auto',
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    metadata: r.metadata ?? {},
    text: { format: { type: 'text' }, ...(r.text ?? {}) },
    reasoning: r.reasoning ?? { effort: null, summary: null },
    user: r.user ?? null,
    truncation: r.truncation ?? 'disabled',
    service_tier: 'default',
  };
  return { ok: true, chat, stream, model: r.model, echo };
}

/** Responses' flat function tools → chat's nested ones; any other tool type is refused. */
function mapTools(tools: unknown[]): Obj[] | Invalid {
  const out: Obj[] = [];
  for (let i = 0; i < tools.length; i++) {
    const t: unknown = tools[i];
    const at = `tools[${i}]`;
    if (!isObj(t)) return invalid(at, `Invalid value for '${at}': expected an object.`);
    if (t.type !== 'function') {
      const type = typeof t.type === 'string' ? `'${t.type}'` : '(missing)';
      return invalid(`${at}.type`, `Tool type ${type} is not supported: this proxy translates the Responses API onto chat completions, which only has function tools.`);
    }
    if (typeof t.name !== 'string' || t.name === '') return invalid(`${at}.name`, `Missing required parameter: '${at}.name'.`);
    const fn: Obj = { name: t.name };
    if (typeof t.description === 'string') fn.description = t.description;
    if (isObj(t.parameters)) fn.parameters = t.parameters;
    if (typeof t.strict === 'boolean') fn.strict = t.strict;
    out.push({ type: 'function', function: fn });
  }
  return out;
}

type Choice = { ok: true; choice: unknown; tools: Obj[] } | Invalid;

/** tool_choice → chat's; `allowed_tools` becomes its mode with the tool list narrowed to the allowed functions. */
function mapToolChoice(tc: unknown, tools: Obj[]): Choice {
  if (tc === undefined || tc === null) return { ok: true, choice: undefined, tools };
  if (tc === 'none' || tc === 'auto' || tc === 'required') return { ok: true, choice: tc, tools };
  if (isObj(tc) && tc.type === 'function') {
    if (typeof tc.name !== 'string' || tc.name === '') return invalid('tool_choice.name', "Missing required parameter: 'tool_choice.name'.");
    return { ok: true, choice: { type: 'function', function: { name: tc.name } }, tools };
  }
  if (isObj(tc) && tc.type === 'allowed_tools') {
    if (tc.mode !== 'auto' && tc.mode !== 'required') return invalid('tool_choice.mode', "Invalid value for 'tool_choice.mode': expected 'auto' or 'required'.");
    if (!Array.isArray(tc.tools)) return invalid('tool_choice.tools', "Missing required parameter: 'tool_choice.tools'.");
    const names = new Set<string>();
    for (let i = 0; i < tc.tools.length; i++) {
      const a: unknown = tc.tools[i];
      if (!isObj(a) || a.type !== 'function' || typeof a.name !== 'string') {
        return invalid(`tool_choice.tools[${i}]`, `Invalid value for 'tool_choice.tools[${i}]': only function tools can be allowed.`);
      }
      names.add(a.name);
    }
    const allowed = tools.filter((t) => names.has((t.function as Obj).name as string));
    return { ok: true, choice: allowed.length > 0 ? tc.mode : 'none', tools: allowed };
  }
  const type = isObj(tc) && typeof tc.type === 'string' ? `'${tc.type}'` : 'this value';
  return invalid('tool_choice', `Invalid value for 'tool_choice': ${type} is not supported; use 'none', 'auto', 'required', a function or allowed_tools.`);
}

/** text.format → chat's response_format (undefined for plain text). */
function mapFormat(f: unknown): Obj | undefined | Invalid {
  if (f === undefined || f === null) return undefined;
  if (!isObj(f)) return invalid('text.format', "Invalid value for 'text.format': expected an object.");
  switch (f.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      if (typeof f.name !== 'string' || f.name === '') return invalid('text.format.name', "Missing required parameter: 'text.format.name'.");
      if (!isObj(f.schema)) return invalid('text.format.schema', "Missing required parameter: 'text.format.schema'.");
      const js: Obj = { name: f.name, schema: f.schema };
      if (typeof f.description === 'string') js.description = f.description;
      if (typeof f.strict === 'boolean') js.strict = f.strict;
      return { type: 'json_schema', json_schema: js };
    }
    default:
      return invalid('text.format.type', "Invalid value for 'text.format.type': expected 'text', 'json_object' or 'json_schema'.");
  }
}
