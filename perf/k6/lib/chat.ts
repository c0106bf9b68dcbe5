// One chat completion as a user makes it (stream or not), with SSE parsing, shed checks and custom metrics.
//
// k6's core `http` has no incremental body reading, so a stream is measured in two steps:
// `timings.waiting` (time to first byte = the proxy's first event, since headers go out with it) and,
// once the response has ended, a parse of the whole SSE body to count events and find `data: [DONE]`.
// For per-event timing use `k6/experimental/streams` or the xk6-sse extension.
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { BASE_URL, PROFILES, chatHeaders, modelFor, type Profile } from './options.ts';

export const ttfbStream = new Trend('ttfb_stream', true);
export const eventsReceived = new Counter('events_received');
export const streamCompleted = new Rate('stream_completed');
export const shed503 = new Rate('shed_503');
export const shedLatency = new Trend('shed_latency', true);

type Res = RefinedResponse<ResponseType | undefined>;
const expected = http.expectedStatuses(200, 503);

export interface SseSummary { events: number; done: boolean; error: boolean; afterDone: number }

/** Splits an SSE body into events; comments (`: keep-alive`) are ignored. */
export function parseSse(body: string): SseSummary {
  const out: SseSummary = { events: 0, done: false, error: false, afterDone: 0 };
  for (const block of body.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (data === '') continue;
    if (out.done) { out.afterDone++; continue; }
    if (data === '[DONE]') { out.done = true; continue; }
    out.events++;
    try {
      const obj = JSON.parse(data) as { error?: unknown };
      if (obj.error !== undefined) out.error = true;
    } catch { out.error = true; }
  }
  return out;
}

const bodyText = (res: Res): string => (typeof res.body === 'string' ? res.body : '');

/** A 503 must be fast, carry a small Retry-After and an OpenAI-shaped JSON error. */
export function checkShed(res: Res): void {
  shedLatency.add(res.timings.duration);
  check(res, {
    '503 has Retry-After ≤ 5': (r) => {
      const v = Number(r.headers['Retry-After']);
      return Number.isFinite(v) && v >= 0 && v <= 5;
    },
    '503 is application/json': (r) => (r.headers['Content-Type'] ?? '').startsWith('application/json'),
    '503 body is an OpenAI error': (r) => {
      try {
        const e = (JSON.parse(bodyText(r)) as { error?: Record<string, unknown> }).error;
        return e !== undefined && typeof e.message === 'string' && typeof e.type === 'string'
          && 'code' in e && 'param' in e;
      } catch { return false; }
    },
  });
  // Back off as an SDK would (retry-after-ms, capped), so shed VUs do not spin.
  const ms = Number(res.headers['Retry-After-Ms'] ?? 500);
  sleep(Math.min(Number.isFinite(ms) ? ms : 500, 1000) / 1000);
}

/** Sends one chat completion and records metrics; returns the status. */
export function chat(p: Profile, stream: boolean): number {
  const payload = JSON.stringify({
    model: modelFor(p),
    messages: [{ role: 'user', content: p.prompt }],
    max_tokens: p.maxTokens,
    stream,
  });
  const res = http.post(`${BASE_URL}/v1/chat/completions`, payload, {
    headers: chatHeaders,
    timeout: `${Math.ceil(p.seconds * 2 + 60)}s`,
    responseCallback: expected,
    tags: { kind: stream ? 'stream' : 'nonstream', profile: p.name },
  });
  shed503.add(res.status === 503);
  if (res.status === 503) { checkShed(res); return 503; }
  if (!check(res, { 'status is 200': (r) => r.status === 200 })) return res.status;

  if (!stream) {
    check(res, {
      'completion has a message': (r) => {
        try {
          const j = JSON.parse(bodyText(r)) as { choices?: Array<{ message?: unknown }> };
          return j.choices?.[0]?.message !== undefined;
        } catch { return false; }
      },
    });
    return 200;
  }
  ttfbStream.add(res.timings.waiting, { profile: p.name });
  const sse = parseSse(bodyText(res));
  eventsReceived.add(sse.events, { profile: p.name });
  const ok = check(res, {
    'stream is text/event-stream': (r) => (r.headers['Content-Type'] ?? '').startsWith('text/event-stream'),
    'stream has events': () => sse.events > 0,
    'stream ends with [DONE]': () => sse.done && sse.afterDone === 0,
    'stream has no error event': () => !sse.error,
  });
  streamCompleted.add(ok, { profile: p.name });
  return 200;
}

/** Mixed traffic: 20 % non-stream short, 50 % short streams, 25 % ~10 s streams, 5 % ~120 s streams. */
export function mixed(): void {
  const r = Math.random();
  if (r < 0.2) chat(PROFILES.short, false);
  else if (r < 0.7) chat(PROFILES.short, true);
  else if (r < 0.95) chat(PROFILES.light, true);
  else chat(PROFILES.heavy, true);
}
