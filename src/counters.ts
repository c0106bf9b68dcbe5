// The main thread's global request counters: every finished request is recorded here exactly once.
import type { Usage } from '../workers/protocol.js';

/**
 * How a request ended; each request has exactly one. docs/monitoring.md lists which figures sum which.
 * Server errors (error_count, the error-rate alert) are upstream_error + stream_error.
 */
export type Outcome =
  | 'ok' // 2xx, complete (stream ended with [DONE] or a finish)
  | 'client_error' // 4xx: refused by the proxy (route, auth, validation, size, slow body) or relayed from the upstream
  | 'shed' // refused by admission (503/429) without touching a worker
  | 'upstream_error' // 5xx before the first byte: the upstream failed or timed out, or a proxy fault
  | 'stream_error' // a stream that had started ended with an error event: the upstream broke it, or a worker died
  | 'cut' // ended by a limit of the proxy: STREAM_TIMEOUT, MAX_CONNECTION_TIME, shutdown past its grace
  | 'client_abort' // the client went away first
  | 'client_stall'; // the client stopped reading for CLIENT_STALL_TIMEOUT and was closed

/** Codes of the proxy's own limits: a request they end is `cut`, not an error of the upstream. */
const CUT_CODES: ReadonlySet<string> = new Set(['stream_timeout', 'max_connection_time', 'shutdown']);

/** The outcome of a request that ended with `code` (null: success), `started` when the 200 was already out. */
export function outcomeOf(status: number, code: string | null, started: boolean): Outcome {
  if (code === null) return status < 400 ? 'ok' : status >= 500 ? 'upstream_error' : 'client_error';
  if (CUT_CODES.has(code)) return 'cut';
  if (code === 'client_stall') return 'client_stall';
  if (started) return 'stream_error';
  return status >= 500 ? 'upstream_error' : 'client_error';
}

export interface Finished {
  readonly route: string;
  readonly status: number;
  readonly outcome: Outcome;
  readonly code: string | null;
  readonly durationMs: number;
  /** Time to the first byte of the response body sent to the client; null when none was sent. */
  readonly ttfbMs: number | null;
  readonly stream: boolean;
  readonly events: number;
  readonly bytes: number;
  /** Malformed upstream events skipped in this response. */
  readonly malformed: number;
  readonly mirror: number | null;
  /** The requested model (null before the body was read). */
  readonly model: string | null;
  /** Token usage the upstream reported (null: none). */
  readonly usage: Usage | null;
}

/** Outcomes that count as a failure of the service (error_count, the error-rate alert's numerator). */
export function isServerError(o: Outcome): boolean {
  return o === 'upstream_error' || o === 'stream_error';
}

/** A fixed-size window of recent samples for rolling percentiles, each stamped with its time. */
export class Window {
  readonly #buf: Float64Array;
  readonly #at: Float64Array;
  #n = 0;
  #i = 0;
  constructor(
    size: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#buf = new Float64Array(size);
    this.#at = new Float64Array(size);
  }
  add(v: number): void {
    this.#buf[this.#i] = v;
    this.#at[this.#i] = this.now();
    this.#i = (this.#i + 1) % this.#buf.length;
    if (this.#n < this.#buf.length) this.#n++;
  }
  get count(): number {
    return this.#n;
  }
  /**
   * Nearest-rank percentiles over the window, e.g. [0.5, 0.95, 0.99]; null when empty.
   * With `maxAgeMs`, only samples younger than that count.
   */
  percentiles(ps: readonly number[], maxAgeMs = Infinity): Array<number | null> {
    let values: number[];
    if (maxAgeMs === Infinity) values = Array.from(this.#buf.subarray(0, this.#n));
    else {
      const since = this.now() - maxAgeMs;
      values = [];
      for (let k = 0; k < this.#n; k++) if (this.#at[k]! >= since) values.push(this.#buf[k]!);
    }
    if (values.length === 0) return ps.map(() => null);
    const sorted = values.sort((a, b) => a - b);
    return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!);
  }
}

/** Sums over the last seconds of traffic. */
export interface RateSums {
  /** Seconds actually covered (less than asked for shortly after start). */
  readonly seconds: number;
  readonly requests: number;
  readonly serverErrors: number;
  readonly shed: number;
  readonly clientAborts: number;
}

const FIELDS = 4; // requests, serverErrors, shed, clientAborts

/** Per-second buckets of request outcomes over the last `size` seconds, for request and error rates. */
export class RateBuckets {
  readonly #counts: Float64Array;
  readonly #second: Float64Array;
  readonly #start: number;
  constructor(
    private readonly size = 120,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#counts = new Float64Array(size * FIELDS);
    this.#second = new Float64Array(size).fill(-1);
    this.#start = now();
  }

  add(o: Outcome): void {
    const sec = Math.floor(this.now() / 1000);
    const slot = sec % this.size;
    if (this.#second[slot] !== sec) {
      this.#second[slot] = sec;
      this.#counts.fill(0, slot * FIELDS, slot * FIELDS + FIELDS);
    }
    const b = slot * FIELDS;
    this.#counts[b]!++;
    if (isServerError(o)) this.#counts[b + 1]!++;
    if (o === 'shed') this.#counts[b + 2]!++;
    if (o === 'client_abort') this.#counts[b + 3]!++;
  }

  /** Sums over the last `seconds` seconds (the current, partial second included). */
  sums(seconds: number): RateSums {
    const now = this.now();
    const nowSec = Math.floor(now / 1000);
    const span = Math.min(seconds, this.size);
    const out = [0, 0, 0, 0];
    for (let k = 0; k < span; k++) {
      const sec = nowSec - k;
      const slot = ((sec % this.size) + this.size) % this.size;
      if (this.#second[slot] !== sec) continue;
      for (let f = 0; f < FIELDS; f++) out[f]! += this.#counts[slot * FIELDS + f]!;
    }
    // span - 1 whole seconds plus the part of the current one, or less just after start
    const covered = Math.max(0.001, Math.min(span - 1 + (now / 1000 - nowSec), (now - this.#start) / 1000));
    return { seconds: covered, requests: out[0]!, serverErrors: out[1]!, shed: out[2]!, clientAborts: out[3]! };
  }
}

export class Counters {
  totalRequests = 0;
  /** Server errors: upstream_error + stream_error (the guide's error_count). */
  errorCount = 0;
  clientAborts = 0;
  /** Streams broken after their first byte (stream_error). */
  upstreamAborts = 0;
  malformedEvents = 0;
  eventsRelayed = 0;
  bytesRelayed = 0;
  promptTokens = 0;
  completionTokens = 0;
  readonly byOutcome = new Map<Outcome, number>();
  readonly byStatus = new Map<number, number>();
  readonly duration = new Window(2048);
  readonly ttfb = new Window(2048);
  readonly rates = new RateBuckets(120);
  readonly listeners: Array<(f: Finished) => void> = [];

  record(f: Finished): void {
    this.totalRequests++;
    if (isServerError(f.outcome)) this.errorCount++;
    if (f.outcome === 'client_abort') this.clientAborts++;
    if (f.outcome === 'stream_error') this.upstreamAborts++;
    this.byOutcome.set(f.outcome, (this.byOutcome.get(f.outcome) ?? 0) + 1);
    this.byStatus.set(f.status, (this.byStatus.get(f.status) ?? 0) + 1);
    this.eventsRelayed += f.events;
    this.malformedEvents += f.malformed;
    if (f.usage) {
      this.promptTokens += f.usage.promptTokens;
      this.completionTokens += f.usage.completionTokens;
    }
    this.bytesRelayed += f.bytes;
    this.rates.add(f.outcome);
    if (f.outcome === 'ok') {
      this.duration.add(f.durationMs);
      if (f.ttfbMs !== null) this.ttfb.add(f.ttfbMs);
    }
    for (const l of this.listeners) l(f);
  }
}
