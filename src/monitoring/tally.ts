// Counters and histograms for the request hot path: plain numbers updated per request, read by prom-client's registry at scrape time.
import type { Registry } from 'prom-client';

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's registry reads from a metric (its `get()`); nothing more. */
interface Collectable {
  readonly name: string;
  get(): Promise<{ name: string; help: string; type: 'counter' | 'histogram'; values: Value[]; aggregator: 'sum' }>;
}

interface Cell {
  readonly labels: Record<string, string>;
  value: number;
}

/** A labelled counter: one lookup by a joined key per increment, no label hashing. */
export class TallyCounter implements Collectable {
  readonly #cells = new Map<string, Cell>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** `labels` in the order of labelNames. */
  inc(labels: readonly string[], n = 1): void {
    const key = labels.join('\u0000');
    let c = this.#cells.get(key);
    if (c === undefined) {
      const named: Record<string, string> = {};
      this.labelNames.forEach((l, i) => (named[l] = labels[i] ?? ''));
      c = { labels: named, value: 0 };
      this.#cells.set(key, c);
    }
    c.value += n;
  }

  get(): ReturnType<Collectable['get']> {
    const values = [...this.#cells.values()].map((c) => ({ labels: c.labels, value: c.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' });
  }
}

interface Series {
  readonly labels: Record<string, string>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A labelled histogram with fixed buckets (seconds): per observation, a bucket index and three additions. */
export class TallyHistogram implements Collectable {
  readonly #series = new Map<string, Series>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(labels: readonly string[], v: number): void {
    const key = labels.join('\u0000');
    let s = this.#series.get(key);
    if (s === undefined) {
      const named: Record<string, string> = {};
      this.labelNames.forEach((l, i) => (named[l] = labels[i] ?? ''));
      s = { labels: named, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    let i = 0;
    while (i < this.buckets.length && v > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  get(): ReturnType<Collectable['get']> {
    const values: Value[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }
}
