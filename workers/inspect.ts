// Classifies one upstream SSE event's data (done / ping / malformed / chunk) with a single JSON.parse: the slow path,
// for events peek.ts cannot settle from their bytes.

export type Inspected =
  | { kind: 'done' }
  | { kind: 'ping' }
  | { kind: 'malformed' }
  | {
    kind: 'chunk';
    value: Record<string, unknown>;
    finishReason: string | null;
    /** The chunk's `usage` object when it has one (the include_usage chunk). */
    usage: Record<string, unknown> | null;
    error: unknown | null;
  };

const DONE: Inspected = Object.freeze({ kind: 'done' });
const PING: Inspected = Object.freeze({ kind: 'ping' });
const MALFORMED: Inspected = Object.freeze({ kind: 'malformed' });

/** `data: [DONE]`, a comment-only or empty event (or data that is itself a comment, like DeepInfra's
 * `data: : ping`), data that is not a JSON object, or a chunk with what the relay needs to know. */
export function inspectData(data: string | null): Inspected {
  let d = data;
  if (d === null || d.length === 0) return PING;
  if (d.charCodeAt(0) <= 32 || d.charCodeAt(d.length - 1) <= 32) {
    d = d.trim();
    if (d.length === 0) return PING;
  }
  const c0 = d.charCodeAt(0);
  if (c0 === 58 /* : */) return PING;
  if (c0 === 91 /* [ */ && d === '[DONE]') return DONE;
  let v: unknown;
  try {
    v = JSON.parse(d);
  } catch {
    return MALFORMED;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return MALFORMED;
  const value = v as Record<string, unknown>;
  return {
    kind: 'chunk',
    value,
    finishReason: finishReasonOf(value.choices),
    usage: typeof value.usage === 'object' && value.usage !== null ? (value.usage as Record<string, unknown>) : null,
    error: value.error ?? null,
  };
}

/** The first non-null finish_reason among the choices (a chunk normally carries one choice). */
function finishReasonOf(choices: unknown): string | null {
  if (!Array.isArray(choices)) return null;
  for (let i = 0; i < choices.length; i++) {
    const c: unknown = choices[i];
    if (typeof c === 'object' && c !== null) {
      const f = (c as Record<string, unknown>).finish_reason;
      if (typeof f === 'string') return f;
    }
  }
  return null;
}
