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

/**
 * A metric's cells by their label values, one Map level per label: a lookup hashes each value (most are constant
 * strings, whose hash V8 keeps) instead of joining them into a new string and hashing that on every request.
 */
class Cells<C> {
  readonly #root = new Map<string, unknown>();
  readonly all: C[] = [];

  constructor(
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Record<string, string>) => C,
  ) {}

  get(labels: readonly string[]): C {
    const last = Math.max(0, this.labelNames.length - 1);
    let level = this.#root;
    for (let i = 0; i < last; i++) {
      const v = labels[i] ?? '';
      let next = level.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map<string, unknown>();
        level.set(v, next);
      }
      level = next;
    }
    const v = labels[last] ?? '';
    let c = level.get(v) as C | undefined;
    if (c === undefined) {
      const named: Record<string, string> = {};
      this.labelNames.forEach((l, i) => (named[l] = labels[i] ?? ''));
      c = this.make(named);
      level.set(v, c);
      this.all.push(c);
    }
    return c;
  }
}

/** A labelled counter: per increment, a lookup per label and an addition. */
export class TallyCounter implements Collectable {
  readonly #cells: Cells<Cell>;

  constructor(
    readonly name: string,
    private readonly help: string,
    labelNames: readonly string[],
    registry: Registry,
  ) {
    this.#cells = new Cells(labelNames, (labels) => ({ labels, value: 0 }));
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** `labels` in the order of labelNames. */
  inc(labels: readonly string[], n = 1): void {
    this.#cells.get(labels).value += n;
  }

  get(): ReturnType<Collectable['get']> {
    const values = this.#cells.all.map((c) => ({ labels: c.labels, value: c.value }));
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
  readonly #series: Cells<Series>;

  constructor(
    readonly name: string,
    private readonly help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.#series = new Cells(labelNames, (labels) => ({ labels, counts: new Float64Array(buckets.length), sum: 0, count: 0 }));
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(labels: readonly string[], v: number): void {
    const s = this.#series.get(labels);
    let i = 0;
    while (i < this.buckets.length && v > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  get(): ReturnType<Collectable['get']> {
    const values: Value[] = [];
    for (const s of this.#series.all) {
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
