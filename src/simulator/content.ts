// What a simulated completion says: the deterministic token plan and the OpenAI chunk/body shapes built from it.
import type { FinishReason, SimSpec } from './spec.js';

export type Json = Record<string, unknown>;

/** Everything one answer carries, decided before the first byte is written. */
export interface Plan {
  reasoning: string[];
  content: string[];
  /** Pieces of each tool call's arguments JSON; null when the answer is not a tool call. */
  toolArgs: string[] | null;
  /** How many tool calls (each with toolArgs). */
  calls: number;
  finish: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

/** Per-response identity shared by every chunk. */
export interface Meta {
  id: string;
  created: number;
  model: string;
}

export const TOOL_NAME = 'get_weather';
export const TOOL_ARGS = '{"city":"Paris"}';
export const SYSTEM_FINGERPRINT = 'fp_sim';
const UNICODE_TAIL = '你好😀';
const HUGE_DEFAULT = 1024 * 1024;

/** Content of token `i`: `tok<i> ` (with `你好😀` before the space when unicode), padded with `.` to `size` bytes. */
export function tokenText(i: number, unicode = false, size?: number): string {
  const base = unicode ? `tok${i}${UNICODE_TAIL}` : `tok${i}`;
  return pad(base, size) + ' ';
}

function pad(text: string, size: number | undefined): string {
  if (size === undefined) return text;
  const missing = size - 1 - Buffer.byteLength(text);
  return missing > 0 ? text + '.'.repeat(missing) : text;
}

/** Splits text into pieces of `n` code points (never inside a surrogate pair). */
export function pieces(text: string, n = 4): string[] {
  const cps = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += n) out.push(cps.slice(i, i + n).join(''));
  return out;
}

function words(s: string): number {
  const m = s.match(/\S+/g);
  return m ? m.length : 0;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p: unknown) => (p && typeof p === 'object' && typeof (p as Json)['text'] === 'string' ? ((p as Json)['text'] as string) : ''))
    .join(' ');
}

/** The `echo:` text a request asks to be streamed back, if any. */
export function echoText(body: Json, kind: 'chat' | 'completion'): string | undefined {
  if (kind === 'completion') {
    const p = body['prompt'];
    const s = Array.isArray(p) ? p[0] : p;
    return typeof s === 'string' && s.startsWith('echo:') ? s : undefined;
  }
  const msgs = body['messages'];
  if (!Array.isArray(msgs)) return undefined;
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i] as unknown;
    if (m && typeof m === 'object' && (m as Json)['role'] === 'user') {
      const c = (m as Json)['content'];
      return typeof c === 'string' && c.startsWith('echo:') ? c : undefined;
    }
  }
  return undefined;
}

export function promptTokens(body: Json, kind: 'chat' | 'completion'): number {
  let n = 0;
  if (kind === 'completion') {
    const p = body['prompt'];
    for (const s of Array.isArray(p) ? p : [p]) n += typeof s === 'string' ? words(s) : 0;
  } else if (Array.isArray(body['messages'])) {
    for (const m of body['messages'] as unknown[]) {
      if (m && typeof m === 'object') n += words(textOf((m as Json)['content']));
    }
  }
  return Math.max(1, n);
}

function maxTokens(body: Json): number | undefined {
  const v = body['max_tokens'] ?? body['max_completion_tokens'];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/** Decides the pieces of an answer from the model spec and the request body. */
export function makePlan(spec: SimSpec, body: Json, kind: 'chat' | 'completion'): Plan {
  const { opts, behaviour } = spec;
  const max = maxTokens(body);
  let n = opts.tokens ?? max ?? 8;
  let finish: FinishReason = 'stop';
  if (max !== undefined && n > max) {
    n = max;
    finish = 'length';
  }
  const reasoning: string[] = [];
  if (behaviour === 'reasoning' && kind === 'chat') {
    for (let i = 0; i < opts.reasoning; i++) reasoning.push(`think${i} `);
  }
  let content: string[] = [];
  let toolArgs: string[] | null = null;
  const echo = echoText(body, kind);
  const toolResult = kind === 'chat' ? lastToolResult(body) : undefined;
  if (behaviour === 'tools' && toolResult !== undefined) {
    content = pieces(`${TOOL_RESULT_PREFIX}${toolResult}`, 4);
  } else if (behaviour === 'tools' && kind === 'chat') {
    // An explicit tokens=N says N content tokens first, as models that talk before they call do.
    if (opts.tokens !== undefined) for (let i = 0; i < n; i++) content.push(tokenText(i, opts.unicode, opts.size));
    toolArgs = pieces(TOOL_ARGS, 4);
    finish = 'tool_calls';
  } else if (behaviour === 'huge') {
    content = [tokenText(0, opts.unicode, opts.size ?? HUGE_DEFAULT)];
  } else if (echo !== undefined) {
    content = pieces(echo, 4);
  } else {
    for (let i = 0; i < n; i++) content.push(tokenText(i, opts.unicode, opts.size));
  }
  if (opts.finish) finish = opts.finish;
  const calls = toolArgs ? opts.calls : 0;
  const completionTokens = reasoning.length + content.length + (toolArgs ? toolArgs.length * calls : 0);
  return { reasoning, content, toolArgs, calls, finish, promptTokens: promptTokens(body, kind), completionTokens };
}

export function usage(plan: Plan): Json {
  return {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: plan.promptTokens + plan.completionTokens,
  };
}

/** `tools` answers with text once the last message is a tool result: this prefix, then that result. */
export const TOOL_RESULT_PREFIX = 'The tool said: ';

/** The content of the last message when it is a tool result (role `tool`), else undefined. */
function lastToolResult(body: Json): string | undefined {
  const msgs = body['messages'];
  const last: unknown = Array.isArray(msgs) ? msgs[msgs.length - 1] : undefined;
  if (!last || typeof last !== 'object' || (last as Json)['role'] !== 'tool') return undefined;
  return textOf((last as Json)['content']);
}

function toolCallId(meta: Meta, i = 0): string {
  return `call_${meta.id.replace(/[^a-zA-Z0-9]/g, '')}${i === 0 ? '' : `_${i}`}`;
}

function chatChunk(meta: Meta, delta: Json, finish: FinishReason | null): Json {
  return {
    id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

/** The chat stream's events in order: role chunk, reasoning, content or tool call, then the usage chunk if asked. */
export function* chatEvents(meta: Meta, plan: Plan, includeUsage: boolean): Generator<Json> {
  const deltas: Json[] = [];
  for (const r of plan.reasoning) deltas.push({ reasoning_content: r });
  for (const c of plan.content) deltas.push({ content: c });
  for (let c = 0; c < plan.calls; c++) {
    plan.toolArgs?.forEach((args, i) => {
      const call: Json = i === 0
        ? { index: c, id: toolCallId(meta, c), type: 'function', function: { name: TOOL_NAME, arguments: args } }
        : { index: c, function: { arguments: args } };
      deltas.push({ tool_calls: [call] });
    });
  }
  yield chatChunk(meta, { role: 'assistant', content: plan.toolArgs ? null : '' }, null);
  if (deltas.length === 0) yield chatChunk(meta, {}, plan.finish);
  for (let i = 0; i < deltas.length; i++) {
    yield chatChunk(meta, deltas[i] as Json, i === deltas.length - 1 ? plan.finish : null);
  }
  if (includeUsage) {
    yield { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT, choices: [], usage: usage(plan) };
  }
}

function textChunk(meta: Meta, text: string, finish: FinishReason | null): Json {
  return {
    id: meta.id, object: 'text_completion', created: meta.created, model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
  };
}

/** The legacy completions stream's events. */
export function* completionEvents(meta: Meta, plan: Plan, includeUsage: boolean): Generator<Json> {
  const n = plan.content.length;
  if (n === 0) yield textChunk(meta, '', plan.finish);
  for (let i = 0; i < n; i++) yield textChunk(meta, plan.content[i] as string, i === n - 1 ? plan.finish : null);
  if (includeUsage) {
    yield { id: meta.id, object: 'text_completion', created: meta.created, model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT, choices: [], usage: usage(plan) };
  }
}

export function chatBody(meta: Meta, plan: Plan): Json {
  const message: Json = { role: 'assistant', content: plan.toolArgs && plan.content.length === 0 ? null : plan.content.join('') };
  if (plan.reasoning.length > 0) message['reasoning_content'] = plan.reasoning.join('');
  if (plan.toolArgs) {
    const args = plan.toolArgs.join('');
    message['tool_calls'] = Array.from({ length: plan.calls }, (_, c) => ({
      id: toolCallId(meta, c), type: 'function', function: { name: TOOL_NAME, arguments: args },
    }));
  }
  return {
    id: meta.id, object: 'chat.completion', created: meta.created, model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finish }],
    usage: usage(plan),
  };
}

export function textBody(meta: Meta, plan: Plan): Json {
  return {
    id: meta.id, object: 'text_completion', created: meta.created, model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, text: plan.content.join(''), logprobs: null, finish_reason: plan.finish }],
    usage: usage(plan),
  };
}
