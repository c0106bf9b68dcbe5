// Parent side of the SSE load generator: runs perf/lib/sse-load.js as one or several child processes, relays marks and progress, merges results.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { track } from './children.js';
import { Hist } from './hist.js';
import type { SseLine, SseMark, SseProgress, SseResult } from './sse-load.js';

export interface SseLoadOptions {
  url: string;
  model: string;
  streams: number;
  /** Streams opened per second (0: all at once). With `repeat`, staggers the first starts. */
  ramp?: number;
  /** Keep re-issuing requests for warmup + duration seconds. */
  repeat?: boolean;
  duration?: number;
  warmup?: number;
  timeout?: number;
  /** Most streams waiting for their first event at once, per process (default 128; only with ramp > 0). */
  pending?: number;
  /** Generator processes the streams are split over (default 1): each holds one fd per stream, and the fd limit is per process. */
  procs?: number;
  /** Seconds between progress lines (0: none). */
  progress?: number;
}

const SCRIPT = fileURLToPath(new URL('./sse-load.js', import.meta.url));

interface Child {
  result: SseResult | undefined;
  progress: SseProgress | undefined;
  done: Promise<void>;
}

function spawnOne(o: SseLoadOptions, streams: number, ramp: number, onLine: (m: SseLine) => void): Child {
  const args = [SCRIPT, '--url', o.url, '--model', o.model, '--streams', String(streams), '--ramp', String(ramp),
    '--duration', String(o.duration ?? 10), '--warmup', String(o.warmup ?? 0), '--timeout', String(o.timeout ?? 120),
    '--pending', String(o.pending ?? 128), '--progress', String(o.progress ?? 0)];
  if (o.repeat) args.push('--repeat');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  const c: Child = { result: undefined, progress: undefined, done: Promise.resolve() };
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m: SseLine;
    try {
      m = JSON.parse(line) as SseLine;
    } catch {
      return;
    }
    if (m.type === 'result') c.result = m;
    else if (m.type === 'progress') c.progress = m;
    onLine(m);
  });
  c.done = new Promise((resolve, reject) => {
    child.once('close', (code) => {
      if (c.result) resolve();
      else reject(new Error(`sse-load exited (code ${code}) without a result:\n${err}`));
    });
  });
  return c;
}

/** Sums the results of several generator processes (peakActive: the sum of each process's peak, an upper bound). */
export function mergeResults(rs: readonly SseResult[]): SseResult {
  if (rs.length === 1 && rs[0]) return rs[0];
  const ttfe = new Hist(), gap = new Hist();
  const statuses: Record<string, number> = {};
  const sum = (k: keyof SseResult): number => rs.reduce((s, r) => s + (r[k] as number), 0);
  for (const r of rs) {
    ttfe.merge(r.ttfeHist);
    gap.merge(r.gapHist);
    for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  }
  return {
    type: 'result', streams: sum('streams'), requests: sum('requests'), done: sum('done'), truncated: sum('truncated'),
    httpErrors: sum('httpErrors'), errors: sum('errors'), aborted: sum('aborted'), statuses,
    errorSamples: rs.flatMap((r) => r.errorSamples).slice(0, 5), peakActive: sum('peakActive'),
    events: sum('events'), bytes: sum('bytes'), windowEvents: sum('windowEvents'),
    windowMs: Math.max(...rs.map((r) => r.windowMs)), elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
    ttfe: ttfe.summary(), gap: gap.summary(), ttfeHist: ttfe.dump(), gapHist: gap.dump(),
  };
}

/**
 * Runs one load. `onMark` is called synchronously for each mark (with several processes: once every process
 * has printed it, events summed, t = this process's clock); `onProgress` with the summed latest progress.
 */
export async function runSseLoad(
  o: SseLoadOptions, onMark: (m: SseMark) => void = () => {}, onProgress: (p: SseProgress) => void = () => {},
): Promise<SseResult> {
  const n = Math.max(1, Math.min(Math.floor(o.procs ?? 1), o.streams));
  const t0 = performance.now();
  const marks = new Map<string, SseMark[]>();
  const children: Child[] = [];
  const onLine = (m: SseLine): void => {
    if (m.type === 'mark') {
      if (n === 1) return onMark(m);
      const got = [...(marks.get(m.name) ?? []), m];
      marks.set(m.name, got);
      if (got.length === n) {
        const s = (k: 'events' | 'open' | 'active'): number => got.reduce((a, x) => a + x[k], 0);
        onMark({ type: 'mark', name: m.name, t: performance.now() - t0, events: s('events'), open: s('open'), active: s('active') });
      }
    } else if (m.type === 'progress') {
      const ps = children.map((c) => c.progress).filter((p): p is SseProgress => p !== undefined);
      if (n === 1 || m === children[0]?.progress) {
        const s = (k: keyof SseProgress): number => ps.reduce((a, p) => a + (p[k] as number), 0);
        onProgress({
          type: 'progress', t: m.t, requests: s('requests'), done: s('done'), truncated: s('truncated'), httpErrors: s('httpErrors'),
          errors: s('errors'), events: s('events'), open: s('open'), active: s('active'),
        });
      }
    }
  };
  for (let i = 0; i < n; i++) {
    const streams = Math.floor(o.streams / n) + (i < o.streams % n ? 1 : 0);
    children.push(spawnOne(o, streams, (o.ramp ?? 0) / n, onLine));
  }
  await Promise.all(children.map((c) => c.done));
  return mergeResults(children.map((c) => c.result as SseResult));
}
