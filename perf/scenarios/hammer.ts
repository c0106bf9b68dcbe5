// What nonstream and stream22 share: wrk -t2 -c50 (or autocannon) against each target in front of the static upstream, CPU per request split by thread.
import { usage } from '../lib/proc.js';
import type { SimProc, UpstreamKind } from '../lib/sim.js';
import { runSseLoad } from '../lib/sse-run.js';
import type { Target, TargetName } from '../lib/targets.js';
import { hammer, wrkAvailable } from '../lib/wrk.js';
import { CHAT_PATH, MB, cpuSnap, cpuSplit, eachTargetRounds, fmt, medianBy, num, upstreamKind, type CpuSplit } from './common.js';
import type { RunOptions } from './types.js';

export interface HammerRow {
  tool: string;
  rps: number; p50: number; p99: number; requests: number; bad: number;
  /** Proxy CPU per request (per stream for stream22). */
  cpu: CpuSplit;
  /** Upstream process CPU per request. */
  upUs: number;
  rssMb: number;
  /** stream22: streams checked before the load, and the events each carried (incl. [DONE]). */
  checked?: { done: number; of: number; eventsEach: number };
  /** Proxy CPU per request of every round (--rounds), in the order they ran; this row is the median round. */
  roundsUs: number[];
}

export interface HammerSetup {
  connections: number;
  threads: number;
  duration: number;
  warmup: number;
  tool: string;
  /** The load in words, e.g. "wrk -t2 -c50". */
  load: string;
  upstream: UpstreamKind;
  /** Rounds over all targets (--rounds): each target measured this many times, interleaved with the others. */
  rounds: number;
}

/**
 * Runs the load against every target; `stream` asks for SSE (each response checked first by 5 real SSE reads).
 * With --rounds N the targets are measured N times in turn, each round starting one target later (nginx, default,
 * pool0; default, pool0, nginx; …), each with a fresh process, and each row is the target's median round by proxy
 * CPU: a shared machine's slow minute then lands on every target once instead of on one, and no target always
 * runs first.
 */
export async function hammerTargets(
  o: RunOptions, notes: string[], model: string, stream: boolean,
): Promise<{ rows: Map<TargetName, HammerRow>; setup: HammerSetup }> {
  const loadgen = o.flags['loadgen'] ?? 'wrk';
  if (loadgen !== 'wrk' && loadgen !== 'autocannon') throw new Error('--loadgen must be wrk or autocannon');
  const autocannon = loadgen === 'autocannon' || !wrkAvailable();
  const setup: HammerSetup = {
    duration: o.duration ?? 10,
    connections: num(o.flags['connections'], 50),
    threads: num(o.flags['threads'], 2),
    warmup: num(o.flags['warmup'], 3),
    tool: !autocannon ? 'wrk' : wrkAvailable() ? 'autocannon' : 'autocannon (wrk not installed: apt-get install -y wrk)',
    upstream: upstreamKind(o, 'static'),
    load: '',
    rounds: num(o.flags['rounds'], 1),
  };
  setup.load = autocannon ? `${setup.tool} -c${setup.connections}` : `wrk -t${setup.threads} -c${setup.connections}`;
  const measure = async (t: Target, sim: SimProc): Promise<HammerRow> => {
    const url = t.origin + CHAT_PATH;
    let checked: HammerRow['checked'];
    if (stream) {
      const c = await runSseLoad({ url, model, streams: 5, timeout: 30 });
      checked = { done: c.done, of: 5, eventsEach: c.events / Math.max(1, c.done + c.truncated) };
    }
    const base = { url, model, stream, connections: setup.connections, threads: setup.threads, autocannon };
    await hammer({ ...base, duration: setup.warmup });
    const b = cpuSnap(t), bs = usage([sim.pid]);
    const r = await hammer({ ...base, duration: setup.duration });
    const a = cpuSnap(t), as = usage([sim.pid]);
    const n = Math.max(1, r.requests);
    return {
      tool: r.tool, rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, bad: r.bad,
      cpu: cpuSplit(t, b, a, n), upUs: ((as.cpuMs - bs.cpuMs) * 1000) / n, rssMb: MB(a.u.rssKb), checked, roundsUs: [],
    };
  };
  const all = await eachTargetRounds(o, notes, setup.rounds, measure, {}, setup.upstream);
  const rows = new Map<TargetName, HammerRow>();
  for (const [name, rs] of all) rows.set(name, { ...medianBy(rs, (r) => r.cpu.totalUs), roundsUs: rs.map((r) => r.cpu.totalUs) });
  return { rows, setup };
}

/** With --rounds: each target's CPU per unit in every round, for the notes. */
export function roundNotes(rows: Map<TargetName, HammerRow>, setup: HammerSetup, unit: string): string[] {
  if (setup.rounds <= 1) return [];
  return [
    `${setup.rounds} rounds (--rounds): the targets were measured in turn, each round with fresh processes and starting one target later; every row is the target's median round by proxy CPU (with an even count, the lower of the middle two).`,
    ...[...rows].filter(([name]) => name !== 'direct')
      .map(([name, r]) => `${name} proxy CPU µs/${unit}, rounds in order: ${r.roundsUs.map((v) => fmt(v)).join(', ')}`),
  ];
}

export const HAMMER_NOTES = [
  'CPU = utime+stime from /proc/<pid>/stat (all threads; nginx: master + workers) over the measured run ÷ responses; the warm-up run is not counted.',
  'Upstream: the static server (perf/lib/static-child.ts: uWS, bodies prebuilt per model name, the whole SSE body in one chunked write) unless --upstream sim, so the upstream is not the bottleneck.',
];
