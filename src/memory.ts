// Memory protection: samples RSS, requests a GC over GC_THRESHOLD, sheds new requests at the limit (hysteresis).
import type { Logger } from './log.js';
import type { Admission } from './admission.js';

export class MemoryMonitor {
  rssMb = 0;
  gcRuns = 0;
  #timer: NodeJS.Timeout | null = null;
  /** When a collection was last asked for (none yet: the first sample over the threshold asks at once). */
  #lastGc = -Infinity;

  constructor(
    private readonly limitMb: number,
    private readonly gcThreshold: number,
    private readonly admission: Admission,
    private readonly log: Logger,
    /** Asks the worker threads to collect too (their heaps hold undici's and the framers' memory). */
    private readonly collectWorkers: () => void = () => undefined,
    private readonly readRss: () => number = () => process.memoryUsage.rss(),
  ) {}

  start(intervalMs = 1000): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  sample(): void {
    this.rssMb = this.readRss() / 1048576;
    const use = this.rssMb / this.limitMb;
    const now = performance.now();
    if (use > this.gcThreshold && now - this.#lastGc > 10_000) {
      this.#lastGc = now;
      this.collectWorkers();
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        gc();
        this.gcRuns++;
        this.log.warn({ rss_mb: Math.round(this.rssMb), limit_mb: this.limitMb }, 'memory over GC threshold: garbage collection requested');
      } else {
        this.log.warn({ rss_mb: Math.round(this.rssMb) }, 'memory over GC threshold but gc is not exposed (start node with --expose-gc)');
      }
    }
    if (!this.admission.memoryPressure && use >= 1) {
      this.admission.setMemoryPressure(true);
      this.log.error({ rss_mb: Math.round(this.rssMb), limit_mb: this.limitMb }, 'memory limit reached: shedding new requests');
    } else if (this.admission.memoryPressure && use < 0.8) {
      this.admission.setMemoryPressure(false);
      this.log.warn({ rss_mb: Math.round(this.rssMb) }, 'memory back under 80% of the limit: admitting again');
    }
  }
}
