// Verify's concurrency check: a burst of slow streams past the shed threshold must get fast 503s with Retry-After.
import { get, isRecord, postChat, type Target } from './target.js';
import { errorText, fail, pass, warn, type CheckResult } from './report.js';
import type { StatusDoc } from './verify-checks.js';

export interface BurstPlan {
  readonly streams: number;
  /** In-flight count at which the instance starts shedding: floor(max × threshold). */
  readonly shedAt: number;
}

/** Streams to open: enough to fill the instance to its shed point (minus what is in flight) plus 10 % of max (≥ 2). */
export function planBurst(s: StatusDoc, explicit?: number): BurstPlan {
  const threshold = isRecord(s.settings) && typeof s.settings.shed_threshold === 'number' ? s.settings.shed_threshold : 0.9;
  // /status `capacity` is the service's own shed point; older documents only give max and the threshold.
  const shedAt = typeof s.capacity === 'number' && s.capacity >= 1 ? s.capacity : Math.max(1, Math.floor(s.max_connections * threshold));
  const extra = Math.max(2, Math.ceil(s.max_connections * 0.1));
  return { shedAt, streams: explicit ?? Math.max(0, shedAt - s.current_connections) + extra };
}

interface Outcome {
  readonly kind: 'open' | 'shed' | 'other' | 'error';
  readonly ms: number;
  readonly detail: string;
  readonly retryAfter?: boolean;
  readonly controller: AbortController;
}

async function one(t: Target, model: string): Promise<Outcome> {
  const controller = new AbortController();
  const started = performance.now();
  const timeout = setTimeout(() => controller.abort(new Error('no response headers in time')), t.timeoutMs);
  try {
    const res = await postChat(t, model, 'Count slowly from one to one hundred.', 256, controller.signal);
    const ms = performance.now() - started;
    if (res.status === 200) return { kind: 'open', ms, detail: '200', controller };
    const text = await res.text();
    if (res.status === 503) {
      return { kind: 'shed', ms, detail: text.slice(0, 120), retryAfter: res.headers.get('retry-after') !== null, controller };
    }
    return { kind: 'other', ms, detail: `${res.status} ${text.slice(0, 120)}`, controller };
  } catch (e) {
    return { kind: 'error', ms: performance.now() - started, detail: errorText(e), controller };
  } finally {
    clearTimeout(timeout);
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
};

/**
 * Opens `plan.streams` streams at once, classifies the answers, then cancels every open stream and waits
 * (bounded) for /status to show the slots free again.
 */
export async function checkBurst(t: Target, model: string, plan: BurstPlan, before: number): Promise<CheckResult> {
  const name = 'concurrency-limit';
  const outcomes = await Promise.all(Array.from({ length: plan.streams }, () => one(t, model)));
  let during: number | null = null;
  let max: number | null = null;
  try {
    const g = await get(t, '/status', 'status');
    if (isRecord(g.json)) [during, max] = [Number(g.json.current_connections), Number(g.json.max_connections)];
  } catch {
    /* reported below as unknown */
  }
  for (const o of outcomes) o.controller.abort();
  const released = await waitReleased(t, before);

  const open = outcomes.filter((o) => o.kind === 'open').length;
  const shed = outcomes.filter((o) => o.kind === 'shed');
  const others = outcomes.filter((o) => o.kind === 'other' || o.kind === 'error');
  const shedMs = shed.map((o) => o.ms);
  const data = {
    streams: plan.streams, shed_at: plan.shedAt, admitted: open, shed: shed.length, failed: others.length,
    shed_p50_ms: pct(shedMs, 0.5), shed_max_ms: pct(shedMs, 1), in_flight_during: during, released,
  };
  if (others.length > 0) {
    const kinds = [...new Set(others.map((o) => o.detail))].slice(0, 3).join(' | ');
    return fail(name, `${others.length} of ${plan.streams} requests failed other than by shedding: ${kinds}`, data);
  }
  if (shed.length === 0) {
    return fail(name, `none of ${plan.streams} concurrent streams was refused (shedding should start at ${plan.shedAt} in flight per instance; for a cluster pass --burst above instances × ${plan.shedAt})`, data);
  }
  const missing = shed.filter((o) => !o.retryAfter).length;
  if (missing > 0) return fail(name, `${missing} of ${shed.length} 503 responses lack Retry-After`, data);
  if (during !== null && max !== null && during > max) return fail(name, `in flight ${during} > max_connections ${max} during the burst`, data);
  const line = `${plan.streams} streams: ${open} admitted, ${shed.length} shed with 503 + Retry-After (p50 ${data.shed_p50_ms} ms, max ${data.shed_max_ms} ms)`;
  if (released === null) return warn(name, `${line}; in-flight count did not fall back to ${before} after the streams were cancelled`, data);
  return pass(name, `${line}; slots free again ${released} ms after cancel`, data);
}

/** Polls /status until in-flight is back to `before` (or the timeout passes); ms taken, or null. */
async function waitReleased(t: Target, before: number): Promise<number | null> {
  const started = performance.now();
  const deadline = started + Math.min(t.timeoutMs, 10_000);
  while (performance.now() < deadline) {
    try {
      const g = await get(t, '/status', 'status');
      if (isRecord(g.json) && Number(g.json.current_connections) <= before) return Math.round(performance.now() - started);
    } catch {
      return null;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}
