// Upstream mirrors as this worker sees them: order of failover, per-mirror circuit breaker and latency.
import type { MirrorState } from './protocol.js';

interface Mirror {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  failures: number;
  openedAt: number;
  probing: boolean;
  latencyMs: number;
  attempts: number;
  totalFailures: number;
}

export interface PickedMirror {
  readonly index: number;
  readonly origin: string;
  readonly basePath: string;
}

export class Mirrors {
  readonly #list: Mirror[];

  constructor(
    urls: readonly string[],
    private readonly failuresToOpen: number,
    private readonly resetMs: number,
  ) {
    this.#list = urls.map((url) => {
      const u = new URL(url);
      return {
        url,
        origin: u.origin,
        basePath: u.pathname.replace(/\/+$/, ''),
        failures: 0,
        openedAt: 0,
        probing: false,
        latencyMs: -1,
        attempts: 0,
        totalFailures: 0,
      };
    });
  }

  get size(): number {
    return this.#list.length;
  }

  /**
   * The mirror for attempt number `attempt` (0-based): mirrors are tried in order, starting over after
   * the last; a mirror whose circuit is open is skipped, except for one half-open probe after resetMs.
   */
  pick(attempt: number, now: number): PickedMirror | null {
    const n = this.#list.length;
    for (let k = 0; k < n; k++) {
      const index = (attempt + k) % n;
      const m = this.#list[index]!;
      if (m.failures >= this.failuresToOpen) {
        if (m.probing || now - m.openedAt < this.resetMs) continue;
        m.probing = true; // half-open: exactly one request probes
      }
      m.attempts++;
      return { index, origin: m.origin, basePath: m.basePath };
    }
    return null;
  }

  success(index: number, headersMs: number): void {
    const m = this.#list[index];
    if (!m) return;
    m.failures = 0;
    m.probing = false;
    m.latencyMs = m.latencyMs < 0 ? headersMs : m.latencyMs * 0.8 + headersMs * 0.2;
  }

  failure(index: number, now: number): void {
    const m = this.#list[index];
    if (!m) return;
    m.totalFailures++;
    m.failures++;
    if (m.probing || m.failures === this.failuresToOpen) m.openedAt = now;
    m.probing = false;
  }

  /** A probe that ended without a verdict (the client left): let another request probe. */
  release(index: number): void {
    const m = this.#list[index];
    if (m) m.probing = false;
  }

  states(now: number): MirrorState[] {
    return this.#list.map((m) => ({
      url: m.url,
      circuit:
        m.failures < this.failuresToOpen
          ? 'closed'
          : m.probing || now - m.openedAt >= this.resetMs
            ? 'half_open'
            : 'open',
      consecutiveFailures: m.failures,
      latencyMs: Math.round(m.latencyMs),
      attempts: m.attempts,
      failures: m.totalFailures,
    }));
  }
}
