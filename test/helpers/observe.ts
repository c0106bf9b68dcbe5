// What an operator sees of a running service (/status, /ready, /metrics), and the service's own events a test waits on.
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { Finished } from '../../src/counters.js';
import type { Service } from '../../src/service.js';
import type { Stack } from './harness.js';

export interface MirrorStatus {
  readonly index: number;
  readonly circuit: string;
  readonly consecutive_failures: number;
  readonly attempts: number;
  readonly failures: number;
}

export interface StatusDoc {
  readonly total_requests: number;
  readonly error_count: number;
  readonly shed_count: number;
  readonly queue_length: number;
  readonly current_connections: number;
  readonly client_aborts: number;
  readonly upstream_aborts: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly mirrors: readonly MirrorStatus[];
  readonly rates: Readonly<Record<string, { readonly error_rate: number | null; readonly errors_per_s: number }>>;
  readonly alerts: ReadonlyArray<{ readonly name: string }>;
  readonly pool: { readonly restarts: number };
}

export async function status(s: Stack): Promise<StatusDoc> {
  const res = await fetch(`${s.origin}/status`);
  if (res.status !== 200) throw new Error(`/status answered ${res.status}`);
  return (await res.json()) as StatusDoc;
}

export async function ready(s: Stack): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${s.origin}/ready`);
  const body = (await res.json()) as { reasons?: string[] };
  return { status: res.status, reasons: body.reasons ?? [] };
}

interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

/** One /metrics scrape: samples of counters and gauges by family name. */
export class Scrape {
  constructor(readonly families: ReadonlyMap<string, Family>) {}
  /** The sum of the family's samples whose labels include `labels` (0 when none). */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const f = this.families.get(name.replace(/_total$/, '')) ?? this.families.get(name);
    if (!f) return 0;
    let total = 0;
    for (const m of f.metrics) {
      if (Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)) total += Number(m.value ?? 0);
    }
    return total;
  }
  /** Label sets with a non-zero value. */
  labelsOf(name: string): Array<Record<string, string>> {
    const f = this.families.get(name.replace(/_total$/, '')) ?? this.families.get(name);
    return (f?.metrics ?? []).filter((m) => Number(m.value ?? 0) !== 0).map((m) => m.labels ?? {});
  }
}

export async function scrape(s: Stack): Promise<Scrape> {
  const res = await fetch(`${s.origin}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  const fams = parsePrometheus(text);
  const map = new Map<string, Family>();
  for (const f of fams) {
    map.set(f.name, f);
    map.set(f.name.replace(/_total$/, ''), f);
  }
  return new Scrape(map);
}

/** The next request the service finishes (counted and logged) that satisfies `pred`. */
export function nextFinished(service: Service, pred: (f: Finished) => boolean = () => true): Promise<Finished> {
  const listeners = service.state.counters.listeners;
  return new Promise((resolve) => {
    const on = (f: Finished): void => {
      if (!pred(f)) return;
      const i = listeners.indexOf(on);
      if (i >= 0) listeners.splice(i, 1);
      resolve(f);
    };
    listeners.push(on);
  });
}

/** Resolves after `n` requests began to wait in the admission queue (their request ids). */
export function queuedTimes(service: Service, n: number): Promise<string[]> {
  const ids: string[] = [];
  return new Promise((resolve) => {
    const off = service.state.hooks.queued.on((id) => {
      ids.push(id);
      if (ids.length === n) {
        off();
        resolve(ids);
      }
    });
  });
}

/** The simulator's next `event` ('blocked', 'complete', …) for a request of `model`. */
export function simEvent<E extends { model: string }>(sim: EventEmitter, event: string, model: string): Promise<E> {
  return new Promise<E>((resolve) => {
    const f = (e: E): void => {
      if (e.model !== model) return;
      sim.off(event, f);
      resolve(e);
    };
    sim.on(event, f);
  });
}
