// The monitoring heartbeat of one service: once a second it evaluates alerts, samples event-loop delay, keeps history.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { ServiceState } from '../state.js';
import { Signal } from '../signal.js';
import { Alerts, guideRules, type AlertTransition } from './alerts.js';
import { historyPoint, type HistoryPoint } from './readings.js';

export const TICK_MS = 1000;
/** Seconds of chart history a new dashboard receives at once. */
export const HISTORY_POINTS = 300;
/** Event-loop delay is reported over this many ticks. */
const ELD_TICKS = 10;
/** Sampling period of the event-loop histogram; its readings include this period, which is taken off. */
const ELD_RESOLUTION_MS = 10;
/** Nanoseconds of one histogram reading → ms of delay beyond the sampling period. */
const lateMs = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);

export interface LoopDelay {
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
}

/** Built and stopped by the service; /status, /metrics and the dashboard read it. */
export class Monitor {
  readonly alerts: Alerts;
  /** Each alert as it starts and as it clears (also logged). */
  readonly transitions = new Signal<AlertTransition>();
  readonly history: HistoryPoint[] = [];
  readonly #subscribers = new Set<() => void>();
  readonly #eld: IntervalHistogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  readonly #eldTicks: LoopDelay[] = [];
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(private readonly s: ServiceState) {
    this.alerts = new Alerts(guideRules(s), s.log, (t) => this.transitions.emit(t));
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(intervalMs = TICK_MS): void {
    if (this.#timer || this.#stopped) return;
    this.#eld.enable();
    this.#timer = setInterval(() => this.tick(), intervalMs);
    this.#timer.unref();
    this.tick();
  }

  /** Stops the timer for good; subscribers hear one last call (they see `stopped`). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#eld.disable();
    for (const f of [...this.#subscribers]) f();
    this.#subscribers.clear();
  }

  /** One evaluation: alerts, a history point, event-loop delay, then every subscriber. */
  tick(): AlertTransition[] {
    if (this.#stopped) return [];
    const transitions = this.alerts.evaluate();
    this.history.push(historyPoint(this.s));
    if (this.history.length > HISTORY_POINTS) this.history.splice(0, this.history.length - HISTORY_POINTS);
    if (this.#eld.count > 0) {
      this.#eldTicks.push({ p50_ms: lateMs(this.#eld.percentile(50)), p99_ms: lateMs(this.#eld.percentile(99)), max_ms: lateMs(this.#eld.max) });
      if (this.#eldTicks.length > ELD_TICKS) this.#eldTicks.shift();
      this.#eld.reset();
    }
    for (const f of this.#subscribers) f();
    return transitions;
  }

  /** Calls `f` after every tick (and once at stop); returns the unsubscribe function. */
  subscribe(f: () => void): () => void {
    this.#subscribers.add(f);
    return () => this.#subscribers.delete(f);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Event-loop delay over the last ~10 s: median of per-second medians, worst p99, worst max. */
  loopDelay(): LoopDelay {
    const ticks = this.#eldTicks;
    if (ticks.length === 0) return { p50_ms: 0, p99_ms: 0, max_ms: 0 };
    const p50s = ticks.map((x) => x.p50_ms).sort((a, b) => a - b);
    const r = (x: number): number => Math.round(x * 100) / 100;
    return {
      p50_ms: r(p50s[Math.floor(p50s.length / 2)]!),
      p99_ms: r(Math.max(...ticks.map((x) => x.p99_ms))),
      max_ms: r(Math.max(...ticks.map((x) => x.max_ms))),
    };
  }
}
