// Fixed-concurrency POST load: Debian's wrk with perf/wrk/chat.lua (its own process), or autocannon in this process when wrk is missing.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCannon } from './cannon.js';
import { start, track } from './children.js';

export const WRK_BIN = '/usr/bin/wrk';
const LUA = fileURLToPath(new URL('../../../perf/wrk/chat.lua', import.meta.url));

export interface HammerOptions {
  url: string;
  model: string;
  stream: boolean;
  connections: number;
  /** wrk threads (autocannon ignores it). */
  threads: number;
  duration: number;
  /** Force autocannon even when wrk is installed. */
  autocannon?: boolean;
}

export interface HammerResult {
  tool: 'wrk' | 'autocannon';
  /** Completed responses (any status). */
  requests: number;
  /** Non-2xx responses plus socket errors and timeouts. */
  bad: number;
  durationS: number;
  rps: number;
  p50: number;
  p99: number;
}

export function wrkAvailable(): boolean {
  return existsSync(WRK_BIN) && existsSync(LUA);
}

/** A wrk latency like "1.23ms", "950.00us", "1.02s" in ms. */
function ms(v: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v ?? '');
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** Parses wrk's report (with --latency and chat.lua's "status N: count" lines). */
export function parseWrk(out: string): Omit<HammerResult, 'tool'> {
  const requests = Number(/(\d+) requests in ([\d.]+)(ms|s|m)/.exec(out)?.[1] ?? NaN);
  const dm = /\d+ requests in ([\d.]+)(ms|s|m)/.exec(out);
  const durationS = dm ? (Number(dm[1]) * (dm[2] === 'ms' ? 0.001 : dm[2] === 'm' ? 60 : 1)) : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErr = se ? se.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
  return {
    requests, bad: non2xx + sockErr, durationS, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1]), p99: ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
  };
}

async function runWrk(o: HammerOptions): Promise<HammerResult> {
  const d = Math.max(1, Math.round(o.duration));
  const s = start(WRK_BIN, [`-t${o.threads}`, `-c${o.connections}`, `-d${d}s`, '--latency', '--timeout', '10s', '-s', LUA, o.url], {
    env: { PATH: process.env['PATH'] ?? '', MODEL: o.model, STREAM: o.stream ? '1' : '0', MAX_TOKENS: '100000', API_KEY: 'linux.do' },
  });
  track(s.child);
  const code = await new Promise<number | null>((resolve) => s.child.once('close', (c) => resolve(c)));
  const r = parseWrk(s.output());
  if (code !== 0 || !Number.isFinite(r.requests)) throw new Error(`wrk failed (code ${code}):\n${s.output()}`);
  return { tool: 'wrk', ...r };
}

/** wrk when installed (unless told otherwise), else autocannon (same connections, pipelining 1). */
export async function hammer(o: HammerOptions): Promise<HammerResult> {
  if (wrkAvailable() && !o.autocannon) return runWrk(o);
  const body = JSON.stringify({ model: o.model, stream: o.stream, max_tokens: 100000, messages: [{ role: 'user', content: 'Say hi.' }] });
  const r = await runCannon({ url: o.url, body, connections: o.connections, duration: o.duration });
  return { tool: 'autocannon', requests: r.requests, bad: r.non2xx + r.errors, durationS: r.durationS, rps: r.rps, p50: r.p50, p99: r.p99 };
}
