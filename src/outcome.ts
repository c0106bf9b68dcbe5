// The one place a finished request becomes figures (counters, and through them /status and /metrics) and its one log line.
import type { Counters, Finished } from './counters.js';
import { logLevelOf } from './errors.js';
import { logRequest, type Logger } from './log.js';
import type { UpstreamMeta } from '../workers/protocol.js';

/** A finished request: what the counters take, and what only the log line carries. */
export interface RequestRecord extends Finished {
  readonly reqId: string;
  /** Masked key id (hash prefix); null before (or without) a valid key. */
  readonly keyId: string | null;
  readonly attempts: number;
  /** Fields only the log line carries, when the opt-ins asked for them (prompt, completion, params, client). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export function recordRequest(counters: Counters, log: Logger, r: RequestRecord): void {
  counters.record(r);
  const level = r.code === null ? 'info' : logLevelOf(r.code);
  if (!log.isLevelEnabled(level)) return; // the line is not even built below LOG_LEVEL
  logRequest(log, level, {
    req_id: r.reqId,
    route: r.route,
    key_id: r.keyId,
    model: r.model,
    stream: r.stream,
    status: r.status,
    outcome: r.outcome,
    code: r.code,
    duration_ms: Math.round(r.durationMs),
    ttfb_ms: r.ttfbMs === null ? null : Math.round(r.ttfbMs),
    bytes: r.bytes,
    events: r.events,
    mirror: r.mirror,
    attempts: r.attempts,
    prompt_tokens: r.usage?.promptTokens ?? null,
    completion_tokens: r.usage?.completionTokens ?? null,
    ...r.extra,
  });
}

/**
 * The log-only fields of a proxied request, undefined when there are none: the opt-ins' parameters, client,
 * prompt and completion, and `upstream_model` when MODEL_ALIASES sent another model than the client's (`model`).
 */
export function logExtra(
  meta: UpstreamMeta | null, client: { readonly ip: string; readonly userAgent: string } | null, completion: string | undefined,
): Record<string, unknown> | undefined {
  if (meta?.prompt === undefined && meta?.params === undefined && meta?.upstreamModel === undefined && completion === undefined && client === null) return undefined;
  return {
    ...(meta?.upstreamModel !== undefined ? { upstream_model: meta.upstreamModel } : {}),
    ...(meta?.params !== undefined ? { params: meta.params } : {}),
    ...(client !== null ? { client_ip: client.ip, user_agent: client.userAgent } : {}),
    ...(meta?.prompt !== undefined ? { prompt: meta.prompt } : {}),
    ...(completion !== undefined ? { completion } : {}),
  };
}
