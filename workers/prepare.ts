// What one request sends upstream, per route: the body validated, its model aliased (MODEL_ALIASES), a Responses
// request translated onto chat completions, a multipart upload checked by its framing only.
import type { OpenMsg, RouteKind, UpstreamMeta, WorkerConfig } from './protocol.js';
import { paramsOf, promptOf } from './content.js';
import { validateBody, type InvalidRequest, type ValidRequest } from './validate.js';
import { aliasOf, rewriteJsonModel, type Aliases } from './aliases.js';
import { boundaryOf, replaceField, scanUpload } from './multipart.js';
import { translateBody } from './responses/request.js';
import { newResponseContext, type ResponseContext } from './responses/shape.js';

/** A request ready to go upstream. Fields left out mean: the client's body as it came, JSON, not aliased. */
export interface Prepared extends Omit<ValidRequest, 'value'> {
  /** The parsed body, for the log opt-ins (the chat body for a Responses request; null for an upload). */
  readonly value: Record<string, unknown> | null;
  /** What goes upstream instead of the client's bytes. */
  readonly body?: Uint8Array;
  /** The upstream body's content-type when it is not JSON. */
  readonly contentType?: string;
  /** The model sent upstream, when an alias replaced the client's. */
  readonly upstreamModel?: string;
  /** A Responses request: what its answer repeats (id, model, echoed fields). */
  readonly responses?: ResponseContext;
}

const invalid = (message: string, param: string | null): InvalidRequest => ({ ok: false, code: 'invalid_request', message, param });

export function prepare(kind: Exclude<RouteKind, 'models'>, open: OpenMsg, aliases: Aliases): Prepared | InvalidRequest {
  switch (kind) {
    case 'responses':
      return prepareResponses(open.body, aliases);
    case 'transcriptions':
    case 'translations':
      return prepareUpload(open, aliases);
    default: {
      const v = validateBody(kind, open.body);
      if (!v.ok) return v;
      const target = aliasOf(aliases, v.model);
      // (the common case returns the validation's own object: nothing more is allocated per request)
      return target === undefined ? v : { ...v, body: rewriteJsonModel(open.body, target), upstreamModel: target };
    }
  }
}

function prepareResponses(raw: Uint8Array, aliases: Aliases): Prepared | InvalidRequest {
  const t = translateBody(raw);
  if (!t.ok) return t;
  const target = aliasOf(aliases, t.model);
  if (target !== undefined) t.chat.model = target;
  return {
    ok: true, model: t.model, stream: t.stream, value: t.chat, body: Buffer.from(JSON.stringify(t.chat)),
    responses: newResponseContext(t.model, t.echo), ...(target !== undefined ? { upstreamModel: target } : {}),
  };
}

/** An upload goes upstream as it came (its content-type too) once its parts frame; only `model` may be rewritten. */
function prepareUpload(open: OpenMsg, aliases: Aliases): Prepared | InvalidRequest {
  const contentType = open.contentType;
  const boundary = boundaryOf(contentType);
  if (boundary === null || contentType === undefined) return invalid('The request must be multipart/form-data with a boundary.', null);
  const body = Buffer.from(open.body.buffer, open.body.byteOffset, open.body.byteLength);
  const parts = scanUpload(body, boundary);
  if (!parts.ok) return invalid(parts.message, null);
  const m = parts.model;
  if (m === null || m.value === '') return invalid("Missing required parameter: 'model'.", 'model');
  if (!parts.hasFile) return invalid("Missing required parameter: 'file'.", 'file');
  const target = aliasOf(aliases, m.value);
  const base = { ok: true, model: m.value, stream: false, value: null, contentType } as const;
  return target === undefined ? base : { ...base, body: replaceField(body, m.start, m.end, target), upstreamModel: target };
}

/** The log fields of a request beyond the usual: the opt-ins' prompt and parameters, the aliased model. */
export function loggedOf(config: WorkerConfig, v: Prepared): Pick<UpstreamMeta, 'prompt' | 'params' | 'upstreamModel'> {
  const value = v.value;
  return {
    ...(config.logPrompts && value !== null ? { prompt: promptOf(value) } : {}),
    ...(config.logDetails && value !== null ? { params: paramsOf(value) } : {}),
    ...(v.upstreamModel !== undefined ? { upstreamModel: v.upstreamModel } : {}),
  };
}
