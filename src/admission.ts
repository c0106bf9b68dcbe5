// Admission control on the main thread: the in-flight limit, shed threshold, FIFO wait queue, per-key caps.
//
// Capacity is floor(MAX_CONCURRENT_CONNECTIONS × SHED_THRESHOLD) (at least 1): with the defaults 1000 × 0.9,
// requests 1..900 in flight are admitted and request number 901 is the first refused (or queued).

export type Refusal = 'overloaded' | 'key_limit' | 'draining' | 'memory_pressure' | 'queue_timeout';
export type Admit = { ok: true; release: () => void } | { ok: false; reason: Refusal };

interface Waiter {
  readonly key: string;
  readonly resolve: (a: Admit) => void;
  readonly timer: NodeJS.Timeout;
  done: boolean;
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
  /** SIGTERM received: /ready says 503 and connections close after their response, but requests are still served. */
  draining = false;
  /** Past the shutdown grace: every new request is refused. */
  closed = false;
  memoryShedding = false;
  shed = 0;
  queued = 0;

  constructor(private readonly o: AdmissionOptions) {
    this.capacity = Math.max(1, Math.floor(o.max * o.shedThreshold));
  }

  get inFlight(): number {
    return this.#inFlight;
  }
  get queueLength(): number {
    return this.#queue.length;
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

  /** Synchronous verdict, or a promise when the request waits in the queue. */
  acquire(key: string): Admit | Promise<Admit> {
    if (this.closed) return this.#refuse('draining');
    if (this.memoryShedding) return this.#refuse('memory_pressure');
    if (this.o.perKey > 0 && (this.#perKey.get(key) ?? 0) >= this.o.perKey) return this.#refuse('key_limit');
    if (this.#inFlight < this.capacity && this.#queue.length === 0) return this.#grant(key);
    if (this.#queue.length >= this.o.queueSize) return this.#refuse('overloaded');
    this.queued++;
    return new Promise<Admit>((resolve) => {
      const w: Waiter = {
        key,
        resolve,
        done: false,
        timer: setTimeout(() => {
          if (w.done) return;
          w.done = true;
          this.#queue.splice(this.#queue.indexOf(w), 1);
          resolve(this.#refuse('queue_timeout'));
        }, this.o.queueTimeoutMs),
      };
      this.#queue.push(w);
    });
  }

  /** Cancels every waiter (shutdown) with the given refusal. */
  rejectQueued(reason: Refusal): void {
    for (const w of this.#queue.splice(0)) {
      w.done = true;
      clearTimeout(w.timer);
      w.resolve(this.#refuse(reason));
    }
  }

  #refuse(reason: Refusal): Admit {
    this.shed++;
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
      w.done = true;
      clearTimeout(w.timer);
      if (this.o.perKey > 0 && (this.#perKey.get(w.key) ?? 0) >= this.o.perKey) {
        w.resolve(this.#refuse('key_limit'));
        continue;
      }
      w.resolve(this.#grant(w.key));
    }
  }
}
