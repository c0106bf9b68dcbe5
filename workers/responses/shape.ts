// Shared Responses API shapes: the echoed request fields, the per-response context, ids, usage and the response object.
import { randomBytes } from 'node:crypto';

export type Obj = Record<string, unknown>;

/** The request fields a Responses `response` object repeats back (OpenAI's defaults where absent). */
export interface ResponseEcho {
  readonly instructions: string | null;
  readonly temperature: number | null;
  readonly top_p: number | null;
  readonly max_output_tokens: number | null;
  /** The tools exactly as the client sent them (Responses' flat form). */
  readonly tools: readonly unknown[];
  readonly tool_choice: unknown;
  readonly parallel_tool_calls: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly text: unknown;
  readonly reasoning: unknown;
  readonly user: string | null;
  readonly truncation: string;
  readonly service_tier: string;
}

/** What every output of one response shares: its id, creation time, model and echoed fields. */
export interface ResponseContext {
  /** `resp_<hex>`; item ids are derived from it. */
  readonly id: string;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly model: string;
  readonly echo: ResponseEcho;
}

/** A new context for one response (random id unless given; `now` in ms). */
export function newResponseContext(
  model: string, echo: ResponseEcho, o: { id?: string; now?: number } = {},
): ResponseContext {
  const id = o.id ?? `resp_${randomBytes(24).toString('hex')}`;
  return { id, createdAt: Math.floor((o.now ?? Date.now()) / 1000), model, echo };
}

/** The id of output item `n` of a response: `msg_…`, `rs_…`, `fc_…` sharing the response's random part. */
export function itemId(ctx: ResponseContext, prefix: 'msg' | 'rs' | 'fc' | 'call', n: number): string {
  const base = ctx.id.startsWith('resp_') ? ctx.id.slice(5) : ctx.id;
  return `${prefix}_${base}_${n}`;
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** Chat-completions usage → Responses usage; null when the value carries no token counts. */
export function mapUsage(u: unknown): ResponseUsage | null {
  if (!isObj(u)) return null;
  if (typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') return null;
  const input = count(u.prompt_tokens);
  const output = count(u.completion_tokens);
  const pd = isObj(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cd = isObj(u.completion_tokens_details) ? u.completion_tokens_details : {};
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: count(pd.cached_tokens) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: count(cd.reasoning_tokens) },
    total_tokens: typeof u.total_tokens === 'number' && Number.isFinite(u.total_tokens) ? u.total_tokens : input + output,
  };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** Chat finish_reason → why a response is incomplete (null: it is not). */
export function incompleteReason(finish: string | null): 'max_output_tokens' | 'content_filter' | null {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return null;
}

export interface ResponseParts {
  status: ResponseStatus;
  output: unknown[];
  usage: ResponseUsage | null;
  incomplete: 'max_output_tokens' | 'content_filter' | null;
  error: { code: string; message: string } | null;
  /** Overrides ctx.model (the upstream's answer names the model it used). */
  model?: string;
}

/** The full `response` object, in the field order OpenAI uses. */
export function responseObject(ctx: ResponseContext, p: ResponseParts): Obj {
  const e = ctx.echo;
  const terminal = p.status === 'completed' || p.status === 'incomplete';
  return {
    id: ctx.id,
    object: 'response',
    created_at: ctx.createdAt,
    status: p.status,
    background: false,
    completed_at: terminal ? Math.floor(Date.now() / 1000) : null,
    error: p.error,
    incomplete_details: p.incomplete === null ? null : { reason: p.incomplete },
    instructions: e.instructions,
    max_output_tokens: e.max_output_tokens,
    metadata: e.metadata,
    model: p.model ?? ctx.model,
    output: p.output,
    parallel_tool_calls: e.parallel_tool_calls,
    previous_response_id: null,
    reasoning: e.reasoning,
    service_tier: e.service_tier,
    store: false,
    temperature: e.temperature,
    text: e.text,
    tool_choice: e.tool_choice,
    tools: e.tools,
    top_p: e.top_p,
    truncation: e.truncation,
    usage: p.usage,
    user: e.user,
  };
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string field, or '' when absent / not a string. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Reasoning text of a chat message or delta: `reasoning_content` (DeepInfra, DeepSeek) or `reasoning` (vLLM). */
export function reasoningOf(m: Obj): string {
  return str(m.reasoning_content) || str(m.reasoning);
}

/** A request the translation refuses: a 400 with the offending parameter (OpenAI's dotted/indexed path). */
export interface Invalid {
  readonly ok: false;
  readonly code: 'invalid_request';
  readonly message: string;
  readonly param: string | null;
}

export function invalid(param: string | null, message: string): Invalid {
  return { ok: false, code: 'invalid_request', message, param };
}

export function isInvalid(v: unknown): v is Invalid {
  return isObj(v) && v.ok === false && v.code === 'invalid_request';
}
