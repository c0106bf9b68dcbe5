// Upstream response headers: the allow-list a client may see, single values, Retry-After in ms.
import type { IncomingHttpHeaders } from 'node:http';

/** Upstream response headers a client may see (names lowercase). Everything else stays here. */
export function allowedResponseHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const raw = headers[name];
    if (raw === undefined) continue;
    const n = name.toLowerCase();
    if (n === 'retry-after' || n === 'retry-after-ms' || n.startsWith('x-ratelimit-') || n === 'openai-processing-ms') {
      const v = Array.isArray(raw) ? raw.join(', ') : raw;
      if (!/[\r\n]/.test(v) && v.length <= 256) out[n] = v;
    }
  }
  return out;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The response's content-encoding, lowercase ('identity' when absent). */
export function encodingOf(headers: IncomingHttpHeaders): string {
  return (headerValue(headers, 'content-encoding') ?? 'identity').trim().toLowerCase() || 'identity';
}

/** Milliseconds of an upstream Retry-After (retry-after-ms first; seconds or an HTTP date), or null. */
export function retryAfterMs(headers: IncomingHttpHeaders): number | null {
  const ms = Number(headerValue(headers, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const ra = headerValue(headers, 'retry-after');
  if (ra === undefined) return null;
  const s = Number(ra);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
}
