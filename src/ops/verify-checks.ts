// The guide's "after deployment" checks against a running instance or cluster: health, ready, status, a stream, memory.
import { sseData } from './sse.js';
import { errorMessage, get, isRecord, postChat, type Target } from './target.js';
import { errorText, fail, pass, warn, type CheckResult } from './report.js';

/** The guide's six /status fields, under their names. */
export const GUIDE_FIELDS = ['current_connections', 'max_connections', 'memory_usage_mb', 'memory_limit_mb', 'total_requests', 'error_count'] as const;
export type StatusDoc = Record<(typeof GUIDE_FIELDS)[number], number> & Record<string, unknown>;

export async function checkHealth(t: Target): Promise<CheckResult> {
  try {
    const g = await get(t, '/health');
    const ok = g.status === 200 && isRecord(g.json) && g.json.status === 'ok';
    if (ok) return pass('health', `GET /health → 200 {"status":"ok"} in ${g.ms} ms`, { ms: g.ms });
    return fail('health', `GET /health → ${g.status} ${g.text.slice(0, 80)}${g.status === 404 ? ' (a proxy in front must route /health)' : ''}`);
  } catch (e) {
    return fail('health', `cannot reach ${t.base}/health: ${errorText(e)}`);
  }
}

export async function checkReady(t: Target): Promise<CheckResult> {
  try {
    const g = await get(t, '/ready');
    if (g.status === 200) return pass('ready', `GET /ready → 200 in ${g.ms} ms`);
    const reasons = isRecord(g.json) && Array.isArray(g.json.reasons) ? ` (${g.json.reasons.join(', ')})` : '';
    return fail('ready', `GET /ready → ${g.status}${reasons}: the instance does not take traffic`);
  } catch (e) {
    return fail('ready', `GET /ready failed: ${errorText(e)}`);
  }
}

/** Validates a /status document: the six fields are non-negative numbers, current ≤ max, memory ≤ limit. */
export function judgeStatus(doc: unknown): { result: CheckResult; status: StatusDoc | null } {
  if (!isRecord(doc)) return { result: fail('status', '/status is not a JSON object'), status: null };
  const bad = GUIDE_FIELDS.filter((f) => typeof doc[f] !== 'number' || !Number.isFinite(doc[f]) || (doc[f] as number) < 0);
  if (bad.length > 0) return { result: fail('status', `fields missing or not non-negative numbers: ${bad.join(', ')}`), status: null };
  const s = doc as StatusDoc;
  const profile = isRecord(s.settings) && typeof s.settings.profile === 'string' ? s.settings.profile : 'unknown';
  const line = `connections ${s.current_connections}/${s.max_connections}, memory ${s.memory_usage_mb}/${s.memory_limit_mb} MB, ${s.total_requests} requests, ${s.error_count} errors, profile ${profile}, instance ${String(s.instance_id ?? '?')}`;
  if (s.max_connections < 1) return { result: fail('status', `max_connections is ${s.max_connections}`), status: s };
  if (s.current_connections > s.max_connections) return { result: fail('status', `current_connections above max_connections: ${line}`), status: s };
  if (s.memory_usage_mb > s.memory_limit_mb) return { result: fail('status', `memory above its limit: ${line}`), status: s };
  const notes: string[] = [];
  if (s.native_uws === false) notes.push('native uWebSockets.js NOT loaded (slow JS fallback)');
  if (s.current_connections / s.max_connections > 0.85) notes.push('connection use > 85 %');
  if (s.memory_usage_mb / s.memory_limit_mb > 0.8) notes.push('memory use > 80 %');
  if (s.total_requests >= 20 && s.error_count / s.total_requests > 0.05) notes.push('error rate > 5 %');
  const data = Object.fromEntries(GUIDE_FIELDS.map((f) => [f, s[f]]));
  return { result: notes.length > 0 ? warn('status', `${notes.join('; ')}: ${line}`, data) : pass('status', line, data), status: s };
}

export async function fetchStatus(t: Target): Promise<{ result: CheckResult; status: StatusDoc | null }> {
  try {
    const g = await get(t, '/status', 'status');
    if (g.status === 401) return { result: fail('status', 'GET /status → 401: pass --status-token (STATUS_TOKEN)'), status: null };
    if (g.status !== 200) return { result: fail('status', `GET /status → ${g.status} ${g.text.slice(0, 80)}`), status: null };
    return judgeStatus(g.json);
  } catch (e) {
    return { result: fail('status', `GET /status failed: ${errorText(e)}`), status: null };
  }
}

/** A streamed chat completion read to its end: 200 SSE, at least one content delta, no error event, `[DONE]` last. */
export async function checkStream(t: Target, model: string): Promise<CheckResult> {
  const name = 'stream';
  const started = performance.now();
  const since = (): number => Math.round(performance.now() - started);
  try {
    const res = await postChat(t, model, 'Say hello in five words.', 64, AbortSignal.timeout(t.timeoutMs));
    const ttfb = since();
    if (res.status !== 200) {
      const text = await res.text();
      let json: unknown = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return fail(name, `POST /v1/chat/completions (${model}) → ${res.status}: ${errorMessage({ text, json })}`);
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream')) {
      await res.body?.cancel();
      return fail(name, `200 but content-type "${type}", not text/event-stream`);
    }
    if (!res.body) return fail(name, '200 without a body');
    let deltas = 0;
    let events = 0;
    let last = '';
    let firstContent: number | null = null;
    for await (const data of sseData(res.body)) {
      events++;
      last = data;
      if (data === '[DONE]') continue;
      let ev: unknown;
      try { ev = JSON.parse(data); } catch { return fail(name, `event ${events} is not JSON: ${data.slice(0, 80)}`); }
      if (isRecord(ev) && ev.error !== undefined) return fail(name, `error event after ${deltas} deltas: ${JSON.stringify(ev.error).slice(0, 160)}`);
      const choices = isRecord(ev) && Array.isArray(ev.choices) ? ev.choices : [];
      for (const c of choices) {
        if (isRecord(c) && isRecord(c.delta) && typeof c.delta.content === 'string' && c.delta.content.length > 0) {
          deltas++;
          firstContent ??= since();
        }
      }
    }
    const data = { events, deltas, ttfb_ms: ttfb, first_content_ms: firstContent, total_ms: since(), model };
    if (last !== '[DONE]') return fail(name, `stream ended without data: [DONE] after ${events} events (truncated)`, data);
    if (deltas === 0) return fail(name, `no content delta in ${events} events`, data);
    return pass(name, `${model}: ${deltas} content deltas, headers in ${ttfb} ms, first content in ${firstContent} ms, [DONE] after ${data.total_ms} ms`, data);
  } catch (e) {
    return fail(name, `streamed completion failed after ${since()} ms: ${errorText(e)}`);
  }
}

/** Memory after the checks (and the burst): under the limit, warning above the guide's 80 %. */
export function judgeMemory(s: StatusDoc | null, fetchError: CheckResult | null): CheckResult {
  if (!s) return fail('memory', `no /status to read: ${fetchError?.reason ?? 'unknown'}`);
  const use = s.memory_usage_mb / s.memory_limit_mb;
  const line = `${s.memory_usage_mb} MB of ${s.memory_limit_mb} MB (${Math.round(use * 100)} %)`;
  const data = { memory_usage_mb: s.memory_usage_mb, memory_limit_mb: s.memory_limit_mb };
  if (use > 1) return fail('memory', `over the limit: ${line}`, data);
  if (use > 0.8) return warn('memory', `above the guide's 80 % warning: ${line}`, data);
  return pass('memory', `within the limit: ${line}`, data);
}
