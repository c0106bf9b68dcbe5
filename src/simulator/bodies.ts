// Fixed response bodies: OpenAI-shaped errors, the models list and deterministic embeddings.
import { mulberry32 } from './prng.js';

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `{"error":{"message","type","param","code"}}` as a string. */
export function errorBody(message: string, type: string, code: string | null, param: string | null = null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

/** The text 401/403 answers carry, standing for a key the upstream echoes back (the proxy must not leak it). */
export const SECRET_ECHO = 'upstream-secret-key-ECHO';

/** The answer of the `error<status>` behaviours (and of `flaky` while it fails). */
export function statusError(status: number): ErrorAnswer {
  const headers: Record<string, string> = {};
  let body: string;
  switch (status) {
    case 400:
      body = errorBody('Simulated bad request: invalid value for messages.', 'invalid_request_error', 'invalid_value', 'messages');
      break;
    case 401:
      body = errorBody(`Incorrect API key provided: ${SECRET_ECHO}.`, 'authentication_error', 'invalid_api_key');
      break;
    case 403:
      body = errorBody(`Key ${SECRET_ECHO} is not allowed to use this model.`, 'permission_error', 'forbidden');
      break;
    case 429:
      body = errorBody('Simulated rate limit reached for requests.', 'rate_limit_error', 'rate_limit_exceeded');
      headers['retry-after'] = '1';
      headers['retry-after-ms'] = '1000';
      headers['x-ratelimit-limit-requests'] = '100';
      headers['x-ratelimit-remaining-requests'] = '0';
      break;
    case 503:
      body = errorBody('Simulated service unavailable.', 'server_error', 'service_unavailable');
      break;
    default:
      body = errorBody('Simulated internal server error.', 'server_error', 'internal_error');
  }
  return { status, headers, body };
}

export const SIM_MODELS: readonly string[] = [
  'sim/echo',
  'sim/reasoning',
  'sim/tools',
  'openai/gpt-oss-120b',
  'meta-llama/Meta-Llama-3.1-8B-Instruct',
];

export function modelsBody(): string {
  const created = 1700000000;
  return JSON.stringify({
    object: 'list',
    data: SIM_MODELS.map((id) => ({ id, object: 'model', created, owned_by: id.startsWith('sim/') ? 'simulator' : id.split('/')[0] })),
  });
}

export const EMBEDDING_DIM = 8;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A unit-length vector of EMBEDDING_DIM floats that depends only on the input text. */
export function embedding(text: string): number[] {
  const rand = mulberry32(fnv1a(text));
  const v = Array.from({ length: EMBEDDING_DIM }, () => rand() * 2 - 1);
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

/** The embeddings answer, or undefined when `input` is neither a string nor an array. */
export function embeddingsBody(model: string, input: unknown): string | undefined {
  let texts: string[];
  if (typeof input === 'string') texts = [input];
  else if (Array.isArray(input)) texts = input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  else return undefined;
  const tokens = texts.reduce((a, t) => a + Math.max(1, (t.match(/\S+/g) ?? []).length), 0);
  return JSON.stringify({
    object: 'list',
    data: texts.map((t, index) => ({ object: 'embedding', index, embedding: embedding(t) })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
