// Request decoding and validation (zod): reads only what the proxy needs, never rewrites the body.
import { z } from 'zod';
import type { RouteKind, WorkerErrorCode } from './protocol.js';

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
} as const;

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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes a body as UTF-8 and parses it as JSON (any JSON value), or says why it cannot. */
export function decodeJson(body: Uint8Array): { readonly ok: true; readonly value: unknown } | InvalidRequest {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, code: 'invalid_utf8', message: 'The request body is not valid UTF-8.', param: null };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    const detail = e instanceof SyntaxError ? `: ${e.message.slice(0, 200)}` : '';
    return { ok: false, code: 'invalid_json', message: `The request body is not valid JSON${detail}`, param: null };
  }
}

/** Decodes, parses and validates a body. The caller forwards the original bytes when this says ok. */
export function validateBody(kind: Exclude<RouteKind, 'models'>, body: Uint8Array): ValidRequest | InvalidRequest {
  const decoded = decodeJson(body);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_request', message: 'The request body must be a JSON object.', param: null };
  }
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
  const data = parsed.data as { model: string; stream?: boolean };
  return { ok: true, model: data.model, stream: kind !== 'embeddings' && data.stream === true, value: value as Record<string, unknown> };
}
