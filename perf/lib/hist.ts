// A small latency histogram (about 1 % resolution, bounded memory) with percentiles; dumps merge across processes.

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Rounds a millisecond value to 2 significant-ish digits, so the map stays small. */
function bucket(ms: number): number {
  if (ms < 1) return Math.round(ms * 100) / 100;
  const mag = 10 ** (Math.floor(Math.log10(ms)) - 1);
  return Math.round(ms / mag) * mag;
}

/** A histogram in JSON form, so several load-generator processes can be merged into one. */
export interface HistDump {
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
  max: number;
}

export class Hist {
  private readonly counts = new Map<number, number>();
  count = 0;
  private sum = 0;
  max = 0;

  record(ms: number): void {
    const b = bucket(ms);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  dump(): HistDump {
    return { buckets: [...this.counts], count: this.count, sum: this.sum, max: this.max };
  }

  /** Adds another histogram's counts into this one. */
  merge(d: HistDump): this {
    for (const [b, n] of d.buckets) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.count += d.count;
    this.sum += d.sum;
    if (d.max > this.max) this.max = d.max;
    return this;
  }

  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    const want = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k) ?? 0;
      if (seen >= want) return k;
    }
    return keys[keys.length - 1] ?? NaN;
  }

  summary(): Summary {
    return {
      count: this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: this.max,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }
}
