// The official openai SDK as a user runs it, with each outcome folded into one value a test can assert on.
import OpenAI, { APIError } from 'openai';
import { KEY } from './harness.js';

export interface Outcome {
  /** HTTP status (200 for a completed call); 0 when the SDK got no response (connection error, abort). */
  readonly status: number;
  /** The answer's text (non-stream: the message; stream: the deltas joined). */
  readonly content: string | null;
  /** `error.code` of an error response (or of an error event mid-stream). */
  readonly code: string | null;
  readonly message: string | null;
}

export interface CallOptions {
  readonly stream?: boolean;
  readonly signal?: AbortSignal;
  readonly maxTokens?: number;
}

/** A client of the service; `maxRetries` as the SDK's own retry policy (its default is 2). */
export function sdkClient(baseURL: string, maxRetries = 0, timeout = 30_000): OpenAI {
  return new OpenAI({ apiKey: KEY, baseURL, maxRetries, timeout });
}

/** One chat completion through the SDK; never throws. */
export async function call(client: OpenAI, model: string, o: CallOptions = {}): Promise<Outcome> {
  const messages = [{ role: 'user' as const, content: 'hello' }];
  const extra = o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {};
  try {
    if (o.stream) {
      const st = await client.chat.completions.create({ model, messages, stream: true, ...extra }, { signal: o.signal });
      let text = '';
      for await (const c of st) text += c.choices[0]?.delta.content ?? '';
      return { status: 200, content: text, code: null, message: null };
    }
    const r = await client.chat.completions.create({ model, messages, ...extra }, { signal: o.signal });
    return { status: 200, content: r.choices[0]?.message.content ?? null, code: null, message: null };
  } catch (e) {
    if (e instanceof APIError) {
      const err = e.error as { code?: unknown; message?: unknown } | undefined;
      return {
        status: e.status ?? 0,
        content: null,
        code: typeof err?.code === 'string' ? err.code : err?.code === undefined || err.code === null ? null : String(err.code),
        message: typeof err?.message === 'string' ? err.message : e.message,
      };
    }
    throw e;
  }
}
