// The main thread's global request counters: every finished request is recorded here exactly once.

/** How a request ended, from the client's point of view. */
export type Outcome =
  | 'ok' // 2xx, complete (stream ended with [DONE] or a finish)
  | 'client_error' // 4xx answered by the proxy or relayed from the upstream
  | 'shed' // refused by admission (503/429) without touching a worker
  | 'upstream_error' // 5xx before the first byte
  | 'stream_error' // a stream that had started ended with an error event
  | 'client_abort'; // the client went away first

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
  readonly mirror: number | null;
}

/** A fixed-size window of recent samples for rolling percentiles. */
export class Window {
  readonly #buf: Float64Array;
  #n = 0;
  #i = 0;
  constructor(size: number) {
    this.#buf = new Float64Array(size);
  }
  add(v: number): void {
    this.#buf[this.#i] = v;
    this.#i = (this.#i + 1) % this.#buf.length;
    if (this.#n < this.#buf.length) this.#n++;
  }
  get count(): number {
    return this.#n;
  }
  /** Nearest-rank percentiles over the window, e.g. [0.5, 0.95, 0.99]; null when empty. */
  percentiles(ps: readonly number[]): Array<number | null> {
    if (this.#n === 0) return ps.map(() => null);
    const sorted = Array.from(this.#buf.subarray(0, this.#n)).sort((a, b) => a - b);
    return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!);
  }
}

export class Counters {
  totalRequests = 0;
  errorCount = 0;
  clientAborts = 0;
  upstreamAborts = 0;
  malformedEvents = 0;
  eventsRelayed = 0;
  bytesRelayed = 0;
  readonly byOutcome = new Map<Outcome, number>();
  readonly byStatus = new Map<number, number>();
  readonly duration = new Window(2048);
  readonly ttfb = new Window(2048);
  readonly listeners: Array<(f: Finished) => void> = [];

  record(f: Finished): void {
    this.totalRequests++;
    if (f.outcome !== 'ok' && f.outcome !== 'client_abort') this.errorCount++;
    if (f.outcome === 'client_abort') this.clientAborts++;
    if (f.outcome === 'stream_error') this.upstreamAborts++;
    this.byOutcome.set(f.outcome, (this.byOutcome.get(f.outcome) ?? 0) + 1);
    this.byStatus.set(f.status, (this.byStatus.get(f.status) ?? 0) + 1);
    this.eventsRelayed += f.events;
    this.bytesRelayed += f.bytes;
    if (f.outcome === 'ok') {
      this.duration.add(f.durationMs);
      if (f.ttfbMs !== null) this.ttfb.add(f.ttfbMs);
    }
    for (const l of this.listeners) l(f);
  }
}
