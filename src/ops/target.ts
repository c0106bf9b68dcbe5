// HTTP helpers for verify: the target's base URL, its keys, and small GET/POST wrappers over fetch (HTTP/1.1).

export interface Target {
  /** Origin (and path prefix, if any) without a trailing slash or /v1: e.g. http://host:8000. */
  readonly base: string;
  readonly key: string;
  readonly statusToken?: string;
  readonly timeoutMs: number;
}

/** Accepts http://host:port, http://host:port/, http://host:port/v1 (as OpenAI clients are configured). */
export function normaliseBase(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`${url}: not an http(s) URL`);
  return (u.origin + u.pathname).replace(/\/+$/, '').replace(/\/v1$/, '');
}

export interface Got {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
  readonly ms: number;
}

export async function get(t: Target, path: string, auth: 'none' | 'key' | 'status' = 'none'): Promise<Got> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (auth === 'key') headers.authorization = `Bearer ${t.key}`;
  if (auth === 'status' && t.statusToken) headers.authorization = `Bearer ${t.statusToken}`;
  const started = performance.now();
  const res = await fetch(t.base + path, { headers, signal: AbortSignal.timeout(t.timeoutMs) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json, ms: Math.round(performance.now() - started) };
}

/** Starts a streamed chat completion; the caller owns the response body. */
export function postChat(t: Target, model: string, content: string, maxTokens: number, signal: AbortSignal): Promise<Response> {
  return fetch(`${t.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], stream: true, max_tokens: maxTokens }),
    signal,
  });
}

/** The OpenAI error message of a JSON error body, or the start of the text. */
export function errorMessage(g: { text: string; json: unknown }): string {
  const e = (g.json as { error?: { message?: unknown; code?: unknown } } | null)?.error;
  if (e && typeof e.message === 'string') return typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  return g.text.slice(0, 120).replace(/\s+/g, ' ');
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
