// /proc sampling: CPU time (utime+stime, clock ticks) per process and per thread, RSS and open fds of process groups, once or on an interval.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

function statFields(pid: number, path = `/proc/${pid}/stat`): string[] | null {
  try {
    const s = readFileSync(path, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time of a process (all its threads) in ms; 0 when it is gone. */
export function cpuMs(pid: number): number {
  const f = statFields(pid);
  if (!f) return 0;
  // After ')': state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** CPU time of one thread (task) of a process in ms; 0 when it is gone. The main thread is the task whose tid is the pid. */
export function threadCpuMs(pid: number, tid: number): number {
  const f = statFields(pid, `/proc/${pid}/task/${tid}/stat`);
  if (!f) return 0;
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

export interface ThreadCpu {
  tid: number;
  /** /proc/PID/task/TID/comm (Node 20 names most of its threads "node"). */
  comm: string;
  cpuMs: number;
}

/** Every live thread of a process with its name and CPU time (threads that already exited are only in the process total). */
export function threads(pid: number): ThreadCpu[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadCpu[] = [];
  for (const t of tids) {
    const tid = Number(t);
    let comm = '?';
    try {
      comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    out.push({ tid, comm, cpuMs: threadCpuMs(pid, tid) });
  }
  return out;
}

/** Open file descriptors of a process (entries of /proc/PID/fd); 0 when it is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Resident set size of a process in KiB; 0 when it is gone. */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The mappings of a process (/proc/PID/maps: which libraries it loaded); '' when it is gone. */
export function mapsOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return '';
  }
}

/** Direct children of a process (e.g. nginx workers of their master). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** The soft limit on open files of a process (or this one). */
export function fdLimit(pid: number | 'self' = 'self'): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

export interface Usage {
  /** ms since the sampler's time origin (performance.now()). */
  t: number;
  cpuMs: number;
  /** CPU of the main thread of each pid, summed (for a single-threaded process it equals cpuMs). */
  mainMs: number;
  rssKb: number;
}

/** Summed CPU (all threads, and main threads only) and RSS of a group of pids right now. */
export function usage(pids: readonly number[]): Usage {
  let cpu = 0;
  let main = 0;
  let rss = 0;
  for (const p of pids) {
    cpu += cpuMs(p);
    main += threadCpuMs(p, p);
    rss += rssKb(p);
  }
  return { t: performance.now(), cpuMs: cpu, mainMs: main, rssKb: rss };
}

/** Samples named pid groups every `everyMs` until stopped; `mark()` takes an extra sample now. */
export class Sampler {
  readonly samples = new Map<string, Usage[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly groups: Readonly<Record<string, () => readonly number[]>>) {
    for (const k of Object.keys(groups)) this.samples.set(k, []);
  }

  start(everyMs = 250): this {
    this.mark();
    this.timer = setInterval(() => this.mark(), everyMs);
    this.timer.unref();
    return this;
  }

  /** Takes a sample of every group now and returns them by name. */
  mark(): Record<string, Usage> {
    const out: Record<string, Usage> = {};
    for (const [k, pids] of Object.entries(this.groups)) {
      const u = usage(pids());
      this.samples.get(k)?.push(u);
      out[k] = u;
    }
    return out;
  }

  stop(): Record<string, Usage> {
    clearInterval(this.timer);
    return this.mark();
  }

  /** Samples of a group taken within [from, to] (performance.now() times). */
  between(group: string, from: number, to: number): Usage[] {
    return (this.samples.get(group) ?? []).filter((u) => u.t >= from && u.t <= to);
  }
}
