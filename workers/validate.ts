// Request decoding and validation (zod): reads only what the proxy needs, never rewrites the body.
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import type { WorkerErrorCode } from './protocol.js';

const message = z
  .object({
    role: z.string().min(1),
  })
  .passthrough();

const stream = z.boolean().optional();
const streamOptions = z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional();
const model = z.string().min(1).max(256);

const schemas = {
  chat: z.object({ model, messages: z.array(message).min(1), stream, stream_options: streamOptions }).passthrough(),
  completions: z
    .object({ model, prompt: z.union([z.string(), z.array(z.unknown()).min(1)]), stream, stream_options: streamOptions })
    .passthrough(),
  embeddings: z.object({ model, input: z.union([z.string(), z.array(z.unknown()).min(1)]) }).passthrough(),
  images: z
    .object({
      model: model.optional(),
      prompt: z.string().min(1),
      stream: z.literal(false, { errorMap: () => ({ message: 'streamed image generation is not supported by this proxy' }) }).optional(),
    })
    .passthrough(),
  speech: z.object({ model, input: z.string().min(1) }).passthrough(),
} as const;

/** The routes whose body is one JSON object validated here (responses is translated, uploads are multipart). */
export type JsonKind = keyof typeof schemas;

export interface ValidRequest {
  readonly ok: true;
  readonly model: string;
  readonly stream: boolean;
  /** The parsed body (read only for what the log may show; the original bytes are forwarded). */
  readonly value: Record<string, unknown>;
}
export interface InvalidRequest {
  readonly ok: false;
  readonly code: WorkerErrorCode;
  readonly message: string;
  readonly param: string | null;
}


/** Decodes a body as UTF-8 and parses it as JSON (any JSON value), or says why it cannot. */
export function decodeJson(body: Uint8Array): { readonly ok: true; readonly value: unknown } | InvalidRequest {
  if (!isUtf8(body)) return { ok: false, code: 'invalid_utf8', message: 'The request body is not valid UTF-8.', param: null };
  let text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 BOM is skipped (it is not JSON whitespace)
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    const detail = e instanceof SyntaxError ? `: ${e.message.slice(0, 200)}` : '';
    return { ok: false, code: 'invalid_json', message: `The request body is not valid JSON${detail}`, param: null };
  }
}

/** Decodes, parses and validates a body. The caller forwards the original bytes when this says ok. */
export function validateBody(kind: JsonKind, body: Uint8Array): ValidRequest | InvalidRequest {
  const decoded = decodeJson(body);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_request', message: 'The request body must be a JSON object.', param: null };
  }
  if (fastValid(kind, value as Record<string, unknown>)) return valid(kind, value as Record<string, unknown>);
  const parsed = schemas[kind].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue && issue.path.length > 0 ? issue.path.join('.') : null;
    const what = issue ? issue.message : 'invalid';
    return {
      ok: false,
      code: 'invalid_request',
      message: param ? `Invalid value for '${param}': ${what}` : `Invalid request: ${what}`,
      param,
    };
  }
  return valid(kind, value as Record<string, unknown>);
}

function valid(kind: JsonKind, value: Record<string, unknown>): ValidRequest {
  // speech is always streamed (its binary body); images and embeddings never
  const stream = kind === 'speech' || ((kind === 'chat' || kind === 'completions') && value.stream === true);
  return { ok: true, model: typeof value.model === 'string' ? value.model : '', stream, value };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The schemas above, checked by hand for the requests that pass them (nearly all): zod runs only for the
 * others, to say what is wrong. Accepts exactly what the schemas accept (test/unit-validate.test.ts holds them
 * against each other).
 */
function fastValid(kind: JsonKind, v: Record<string, unknown>): boolean {
  const m = v.model;
  if (typeof m !== 'string' || m.length < 1 || m.length > 256) return false;
  if (kind === 'images' || kind === 'speech') return false; // (zod: these routes are not the hot path)
  if (kind === 'embeddings') return nonEmptyTextOrList(v.input);
  const st = v.stream;
  if (st !== undefined && typeof st !== 'boolean') return false;
  const so = v.stream_options;
  if (so !== undefined && so !== null && !(isObject(so) && (so.include_usage === undefined || typeof so.include_usage === 'boolean'))) return false;
  if (kind === 'completions') return nonEmptyTextOrList(v.prompt);
  const msgs = v.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return false;
  for (let i = 0; i < msgs.length; i++) {
    const msg: unknown = msgs[i];
    if (!isObject(msg) || typeof msg.role !== 'string' || msg.role.length === 0) return false;
  }
  return true;
}

const nonEmptyTextOrList = (x: unknown): boolean => typeof x === 'string' || (Array.isArray(x) && x.length > 0);
