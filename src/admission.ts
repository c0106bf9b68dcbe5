// Admission control on the main thread: the in-flight limit, shed threshold, FIFO wait queue, per-key caps.
//
// Capacity is floor(MAX_CONCURRENT_CONNECTIONS × SHED_THRESHOLD) (at least 1): with the defaults 1000 × 0.9,
// requests 1..900 in flight are admitted and request number 901 is the first refused (or queued).

/** Every reason admission refuses a request (each a code of src/errors.ts). */
export const REFUSALS = ['overloaded', 'key_limit', 'draining', 'memory_pressure', 'queue_timeout'] as const;
export type Refusal = (typeof REFUSALS)[number];
export type Admit = { ok: true; release: () => void } | { ok: false; reason: Refusal };

/** A request waiting in the queue. `cancel` gives its place up at once (its client left). */
export interface Waiting {
  readonly promise: Promise<Admit>;
  cancel(): void;
}

interface Waiter {
  readonly key: string;
  readonly resolve: (a: Admit) => void;
  readonly timer: NodeJS.Timeout;
}

export interface AdmissionOptions {
  readonly max: number;
  readonly shedThreshold: number;
  readonly queueSize: number;
  readonly queueTimeoutMs: number;
  readonly perKey: number;
}

export class Admission {
  readonly capacity: number;
  #inFlight = 0;
  #peak = 0;
  readonly #perKey = new Map<string, number>();
  readonly #queue: Waiter[] = [];
  #draining = false;
  #closed = false;
  #memoryPressure = false;
  #shed = 0;

  constructor(private readonly o: AdmissionOptions) {
    this.capacity = Math.max(1, Math.floor(o.max * o.shedThreshold));
  }

  get inFlight(): number {
    return this.#inFlight;
  }
  get queueLength(): number {
    return this.#queue.length;
  }
  /** Requests refused so far. */
  get shed(): number {
    return this.#shed;
  }
  /** SIGTERM received: /ready says 503 and connections close after their response, but requests are still served. */
  get draining(): boolean {
    return this.#draining;
  }
  /** Over the memory limit: new requests are refused until RSS is back under 80 % of it. */
  get memoryPressure(): boolean {
    return this.#memoryPressure;
  }
  /** Connection use, in-flight over MAX_CONCURRENT_CONNECTIONS (the guide's ratio). */
  get use(): number {
    return this.#inFlight / this.o.max;
  }
  /** Highest in-flight since the last call (for gauges that must not miss short peaks). */
  takePeak(): number {
    const p = Math.max(this.#peak, this.#inFlight);
    this.#peak = this.#inFlight;
    return p;
  }

  /** Shutdown begins: waiters are refused with `draining`; new requests are still admitted until close(). */
  drain(): void {
    this.#draining = true;
    for (const w of this.#queue.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(this.#refuse('draining'));
    }
  }

  /** Past the shutdown grace: every new request is refused. */
  close(): void {
    this.#draining = true;
    this.#closed = true;
  }

  setMemoryPressure(on: boolean): void {
    this.#memoryPressure = on;
  }

  /** A synchronous verdict, or a place in the queue. */
  acquire(key: string): Admit | Waiting {
    if (this.#closed) return this.#refuse('draining');
    if (this.#memoryPressure) return this.#refuse('memory_pressure');
    if (this.o.perKey > 0 && (this.#perKey.get(key) ?? 0) >= this.o.perKey) return this.#refuse('key_limit');
    if (this.#inFlight < this.capacity && this.#queue.length === 0) return this.#grant(key);
    if (this.#draining) return this.#refuse('draining'); // no new waiters once shutdown began
    if (this.#queue.length >= this.o.queueSize) return this.#refuse('overloaded');
    let w!: Waiter;
    const promise = new Promise<Admit>((resolve) => {
      w = {
        key,
        resolve,
        timer: setTimeout(() => {
          if (this.#remove(w)) resolve(this.#refuse('queue_timeout'));
        }, this.o.queueTimeoutMs),
      };
      this.#queue.push(w);
    });
    return {
      promise,
      cancel: () => {
        if (this.#remove(w)) clearTimeout(w.timer);
      },
    };
  }

  #remove(w: Waiter): boolean {
    const i = this.#queue.indexOf(w);
    if (i < 0) return false;
    this.#queue.splice(i, 1);
    return true;
  }

  #refuse(reason: Refusal): Admit {
    this.#shed++;
    return { ok: false, reason };
  }

  #grant(key: string): Admit {
    this.#inFlight++;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
    if (this.o.perKey > 0) this.#perKey.set(key, (this.#perKey.get(key) ?? 0) + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
        if (this.o.perKey > 0) {
          const n = (this.#perKey.get(key) ?? 1) - 1;
          if (n <= 0) this.#perKey.delete(key);
          else this.#perKey.set(key, n);
        }
        this.#wake();
      },
    };
  }

  #wake(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.capacity) {
      const w = this.#queue.shift()!;
      clearTimeout(w.timer);
      if (this.o.perKey > 0 && (this.#perKey.get(w.key) ?? 0) >= this.o.perKey) {
        w.resolve(this.#refuse('key_limit'));
        continue;
      }
      w.resolve(this.#grant(w.key));
    }
  }
}
