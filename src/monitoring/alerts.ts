// The guide's alerts (connections, memory, error rate): threshold rules, their state, one log line per transition.
import type { Logger } from '../log.js';
import type { ServiceState } from '../state.js';

export type Severity = 'warning' | 'critical';

/** The error-rate alert looks at this many seconds of traffic… */
export const ERROR_WINDOW_S = 60;
/** …and says nothing until that window holds at least this many requests (1 of 2 does not page). */
export const ERROR_MIN_SAMPLES = 10;
/** A firing alert clears when its value falls to threshold × this or below (no flapping around the line). */
export const CLEAR_RATIO = 0.9;

export interface AlertRule {
  readonly name: string;
  readonly severity: Severity;
  /** A ratio in 0..1; the alert fires when the value is above it. */
  readonly threshold: number;
  readonly description: string;
  /** The current value (a ratio), or null when there is not enough data to judge. */
  read(): number | null;
}

export interface ActiveAlert {
  readonly name: string;
  readonly severity: Severity;
  readonly value: number;
  readonly threshold: number;
  /** ISO time the alert started. */
  readonly since: string;
}

export interface AlertTransition {
  readonly name: string;
  readonly severity: Severity;
  readonly state: 'firing' | 'resolved';
  readonly value: number | null;
  readonly threshold: number;
}

interface Live {
  value: number;
  readonly since: number;
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

export class Alerts {
  readonly #live = new Map<string, Live>();

  constructor(
    readonly rules: readonly AlertRule[],
    private readonly log: Logger,
    private readonly onTransition: (t: AlertTransition) => void = () => {},
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Reads every rule once; logs and reports each start and each end. */
  evaluate(): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const r of this.rules) {
      const v = r.read();
      const live = this.#live.get(r.name);
      if (!live) {
        if (v === null || !(v > r.threshold)) continue;
        this.#live.set(r.name, { value: v, since: this.now() });
        const t: AlertTransition = { name: r.name, severity: r.severity, state: 'firing', value: round4(v), threshold: r.threshold };
        const fields = { alert: r.name, severity: r.severity, value: t.value, threshold: r.threshold };
        if (r.severity === 'critical') this.log.error(fields, `alert firing: ${r.description}`);
        else this.log.warn(fields, `alert firing: ${r.description}`);
        out.push(t);
        continue;
      }
      if (v !== null && v > r.threshold * CLEAR_RATIO) {
        live.value = v;
        continue;
      }
      this.#live.delete(r.name);
      const t: AlertTransition = { name: r.name, severity: r.severity, state: 'resolved', value: v === null ? null : round4(v), threshold: r.threshold };
      this.log.info(
        { alert: r.name, severity: r.severity, value: t.value, threshold: r.threshold, duration_s: Math.round((this.now() - live.since) / 1000) },
        `alert resolved: ${r.description}`,
      );
      out.push(t);
    }
    for (const t of out) this.onTransition(t);
    return out;
  }

  /** The alerts firing now, as /status shows them. */
  list(): ActiveAlert[] {
    const out: ActiveAlert[] = [];
    for (const r of this.rules) {
      const live = this.#live.get(r.name);
      if (live) out.push({ name: r.name, severity: r.severity, value: round4(live.value), threshold: r.threshold, since: new Date(live.since).toISOString() });
    }
    return out;
  }
}

/** Error rate over the alert window: server errors over all requests (the guide's error_count / total_requests);
 *  null under the minimum sample. */
export function errorRate(s: ServiceState, seconds = ERROR_WINDOW_S, minSamples = ERROR_MIN_SAMPLES): number | null {
  const w = s.counters.rates.sums(seconds);
  return w.requests < minSamples || w.requests <= 0 ? null : w.serverErrors / w.requests;
}

/** The guide's three rules, thresholds from ALERT_CONNECTIONS / ALERT_MEMORY / ALERT_ERROR_RATE. */
export function guideRules(s: ServiceState): AlertRule[] {
  const c = s.config;
  return [
    {
      name: 'connections',
      severity: 'warning',
      threshold: c.ALERT_CONNECTIONS,
      description: 'connection use above threshold',
      read: () => s.admission.inFlight / c.MAX_CONCURRENT_CONNECTIONS,
    },
    {
      name: 'memory',
      severity: 'warning',
      threshold: c.ALERT_MEMORY,
      description: 'memory use above threshold',
      read: () => (s.memory.rssMb > 0 ? s.memory.rssMb / c.MEMORY_LIMIT_MB : null),
    },
    {
      name: 'error_rate',
      severity: 'critical',
      threshold: c.ALERT_ERROR_RATE,
      description: 'error rate above threshold',
      read: () => errorRate(s),
    },
  ];
}
