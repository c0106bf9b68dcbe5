// Helpers the scenarios share: per-target lifecycle with a fresh upstream, main-thread/other-thread CPU split, number formatting, ratios.
import { setTimeout as sleep } from 'node:timers/promises';
import { threads, usage, type ThreadCpu, type Usage } from '../lib/proc.js';
import { startSim, UPSTREAM_KINDS, type SimProc, type UpstreamKind } from '../lib/sim.js';
import { runSseLoad } from '../lib/sse-run.js';
import { startTarget, unavailable, type Target, type TargetName } from '../lib/targets.js';
import type { RunOptions } from './types.js';

export const CHAT_PATH = '/v1/chat/completions';

/** The upstream a scenario uses: `--upstream sim|static`, else the scenario's default. */
export function upstreamKind(o: RunOptions, dflt: UpstreamKind): UpstreamKind {
  const u = o.flags['upstream'];
  if (u === undefined) return dflt;
  if (!(UPSTREAM_KINDS as readonly string[]).includes(u)) throw new Error(`--upstream must be one of ${UPSTREAM_KINDS.join(', ')}`);
  return u as UpstreamKind;
}

/** The service targets seen running their worker code inline, in this bench run (the setting does not change within one). */
const ranInline = new Set<TargetName>();

/**
 * Runs `fn` once per requested target, each with a fresh upstream process (`upstream`: the simulator or the
 * static server) and a fresh target process (so RSS and CPU start clean). Unavailable targets are skipped
 * with a note; what the default target chose is noted.
 */
export async function eachTarget<T>(
  o: RunOptions, notes: string[], fn: (t: Target, sim: SimProc) => Promise<T>, env: Record<string, string> = {},
  upstream: UpstreamKind = 'sim',
): Promise<Map<TargetName, T>> {
  const out = new Map<TargetName, T>();
  for (const name of o.targets) {
    const topts = {
      nginxWorkers: num(o.flags['nginx-workers'], 1, true),
      ...(o.flags['before'] ? { beforeDir: o.flags['before'] } : {}),
      ...(o.flags['go'] ? { goBin: o.flags['go'] } : {}),
      ...(o.flags['logs'] ? { logs: true } : {}),
      ...(o.flags['upstream-host'] ? { upstreamHost: o.flags['upstream-host'] } : {}),
    };
    const why = unavailable(name, topts);
    if (why) {
      if (!notes.includes(why)) notes.push(why);
      continue;
    }
    o.log(`  ${name} …`);
    const sim = await startSim(upstream);
    let target: Target | undefined;
    try {
      target = await startTarget(name, sim, env, topts);
      if (target.inline) ranInline.add(name);
      const about = `${name}: ${target.describe}`;
      if ((name === 'default' || name === 'nginx' || name === 'image') && !notes.includes(about)) notes.push(about);
      await sleep(300);
      out.set(name, await fn(target, sim));
      const died = target.exited();
      if (died) {
        notes.push(`${name} ${died}`);
        o.log(`  ${name} ${died}`);
      }
    } finally {
      await target?.close();
      await sim.close();
    }
  }
  return out;
}

/**
 * The targets in the order round `k` (from 0) measures them: each round starts one target later, so no target
 * always runs first; with as many rounds as targets, every target takes every place once.
 */
export function roundOrder<T>(targets: readonly T[], k: number): T[] {
  const turn = targets.length > 0 ? k % targets.length : 0;
  return [...targets.slice(turn), ...targets.slice(0, turn)];
}

/** eachTarget `rounds` times (--rounds), each round in roundOrder: every target's results in round order. */
export async function eachTargetRounds<T>(
  o: RunOptions, notes: string[], rounds: number, fn: (t: Target, sim: SimProc) => Promise<T>, env: Record<string, string>,
  upstream: UpstreamKind,
): Promise<Map<TargetName, T[]>> {
  const all = new Map<TargetName, T[]>();
  for (let k = 0; k < rounds; k++) {
    const got = await eachTarget({ ...o, targets: roundOrder(o.targets, k) }, k === 0 ? notes : [], fn, env, upstream);
    for (const [name, row] of got) all.set(name, [...(all.get(name) ?? []), row]);
  }
  return all;
}

/** The median of `rs` by `by` (with an even count, the lower of the middle two). */
export function medianBy<T>(rs: readonly T[], by: (r: T) => number): T {
  return [...rs].sort((x, y) => by(x) - by(y))[Math.floor((rs.length - 1) / 2)]!;
}

/**
 * The row of the inline reference, for "main ÷ POOL_SIZE=0 total": pool0 when it ran, else the default when
 * it ran inline (POOL_SIZE=auto picks inline on ≤ 2 cores), else none.
 */
export function inlineRow<T>(rows: ReadonlyMap<TargetName, T>): T | undefined {
  return rows.get('pool0') ?? (ranInline.has('default') ? rows.get('default') : undefined);
}

/** A number with a sensible number of digits; '–' for missing. */
export function fmt(v: number | undefined, digits?: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `a / b` as "1.23×", or '–' when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${fmt(a / b, 2)}×`;
}

/** A numeric --flag: positive (or ≥ 0 with `zeroOk`), else the default. */
export function num(flag: string | undefined, dflt: number, zeroOk = false): number {
  const n = Number(flag);
  return flag !== undefined && Number.isFinite(n) && (n > 0 || (zeroOk && n === 0)) ? n : dflt;
}

/** CPU of a target at one instant: process totals (all threads) and, for the service, each thread. */
export interface CpuSnap {
  u: Usage;
  threads: ThreadCpu[];
}

export function cpuSnap(t: Target): CpuSnap {
  return { u: usage(t.pids()), threads: t.mainPid === undefined ? [] : threads(t.mainPid) };
}

/** CPU per unit (request, stream, event) between two snapshots, split into the main thread and the rest. */
export interface CpuSplit {
  /** All threads (nginx: master + workers). */
  totalUs: number;
  /** The service's main thread (tid == pid); undefined for nginx/direct. */
  mainUs: number | undefined;
  /** Everything else: pool workers, libuv threads, V8's GC and compiler threads. */
  otherUs: number | undefined;
  /** The busiest threads besides main, "comm#tid µs" (for the notes). */
  busiest: string[];
}

export function cpuSplit(t: Target, a: Usage | CpuSnap, b: Usage | CpuSnap, units: number): CpuSplit {
  const ua = 'u' in a ? a.u : a, ub = 'u' in b ? b.u : b;
  const n = Math.max(1, units);
  const totalUs = ((ub.cpuMs - ua.cpuMs) * 1000) / n;
  if (t.mainPid === undefined) return { totalUs, mainUs: undefined, otherUs: undefined, busiest: [] };
  const mainUs = ((ub.mainMs - ua.mainMs) * 1000) / n;
  const before = new Map(('threads' in a ? a.threads : []).map((x) => [x.tid, x.cpuMs]));
  const busiest = ('threads' in b ? b.threads : [])
    .filter((x) => x.tid !== t.mainPid)
    .map((x) => ({ name: `${x.comm}#${x.tid}`, us: ((x.cpuMs - (before.get(x.tid) ?? 0)) * 1000) / n }))
    .filter((x) => x.us > 0)
    .sort((p, q) => q.us - p.us)
    .slice(0, 4)
    .map((x) => `${x.name} ${fmt(x.us)}`);
  return { totalUs, mainUs, otherUs: totalUs - mainUs, busiest };
}

/** One full core of main thread at `us` per unit: units per second (1e6 / µs). */
export const ceiling = (us: number | undefined): number | undefined => (us !== undefined && us > 0 ? 1e6 / us : undefined);

/** a ÷ b as a percentage, "31 %". */
export function pct(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${fmt((100 * a) / b, 0)} %`;
}

/** Compact counts: 15,700 → "15.7k". */
export function kfmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 10_000 ? `${fmt(v / 1000, 1)}k` : fmt(v, 0);
}

/** The columns every CPU-reporting table shares for the main-thread split, and their cells for one target. */
export const SPLIT_COLUMNS = (unit: string, plural = `${unit}s`): string[] => [
  `main thread µs/${unit}`, `other threads µs/${unit}`, `main-thread ceiling ${plural}/s`, 'main ÷ POOL_SIZE=0 total',
];
export function splitCells(s: CpuSplit | undefined, inlineTotalUs: number | undefined): string[] {
  if (!s || s.mainUs === undefined) return ['–', '–', '–', '–'];
  return [fmt(s.mainUs), fmt(s.otherUs), kfmt(ceiling(s.mainUs)), pct(s.mainUs, inlineTotalUs)];
}
export const SPLIT_NOTE =
  'Main thread = the task whose tid is the pid in /proc/PID/task/*/stat (utime+stime); other threads = the rest of the process (pool workers, libuv, V8 GC/compiler threads; Node 20 names them all "node"). ' +
  'Ceiling = 1e6 ÷ main-thread µs per unit: what one full core of main thread could carry, the cap on one instance however many cores the workers get. ' +
  '"main ÷ POOL_SIZE=0 total" = this target\'s main-thread cost ÷ the inline target\'s whole cost per unit, same run (pool0, or the default when it ran inline: POOL_SIZE=auto on ≤ 2 cores; issue 13 aims at ≤ 35 % in pool mode).';

export const MB = (kb: number): number => kb / 1024;

/** A few short streams so lazy code paths are loaded and JIT-compiled before RSS baselines are taken. */
export async function warmStreams(origin: string): Promise<void> {
  await runSseLoad({ url: origin + CHAT_PATH, model: 'sim/echo;tokens=5;interval=0', streams: 50, timeout: 20 });
  await sleep(1000);
}
