// Helpers the scenarios share: per-target lifecycle with a fresh simulator, number formatting, ratios.
import { setTimeout as sleep } from 'node:timers/promises';
import { startSim, type SimProc } from '../lib/sim.js';
import { runSseLoad } from '../lib/sse-run.js';
import { startTarget, unavailable, type Target, type TargetName } from '../lib/targets.js';
import type { RunOptions } from './types.js';

export const CHAT_PATH = '/v1/chat/completions';

/**
 * Runs `fn` once per requested target, each with a fresh simulator process and a fresh target
 * process (so RSS and CPU start clean). Unavailable targets are skipped with a note.
 */
export async function eachTarget<T>(
  o: RunOptions, notes: string[], fn: (t: Target, sim: SimProc) => Promise<T>, env: Record<string, string> = {},
): Promise<Map<TargetName, T>> {
  const out = new Map<TargetName, T>();
  for (const name of o.targets) {
    const why = unavailable(name);
    if (why) {
      if (!notes.includes(why)) notes.push(why);
      continue;
    }
    o.log(`  ${name} …`);
    const sim = await startSim();
    let target: Target | undefined;
    try {
      target = await startTarget(name, sim, env);
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

export function num(flag: string | undefined, dflt: number): number {
  const n = Number(flag);
  return flag !== undefined && Number.isFinite(n) && n > 0 ? n : dflt;
}

export const MB = (kb: number): number => kb / 1024;

/** A few short streams so lazy code paths are loaded and JIT-compiled before RSS baselines are taken. */
export async function warmStreams(origin: string): Promise<void> {
  await runSseLoad({ url: origin + CHAT_PATH, model: 'sim/echo;tokens=5;interval=0', streams: 50, timeout: 20 });
  await sleep(1000);
}
