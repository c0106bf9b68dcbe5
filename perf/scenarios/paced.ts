// Scenario paced: thousands of concurrent paced streams (default 8000 × 50 events at 10/s): completed, TTFB and gap p99, RSS per stream, CPU per event (main thread apart).
import { fdLimit, Sampler, type Usage } from '../lib/proc.js';
import { runSseLoad } from '../lib/sse-run.js';
import type { SimProc, UpstreamKind } from '../lib/sim.js';
import type { Target, TargetName } from '../lib/targets.js';
import {
  CHAT_PATH, MB, SPLIT_COLUMNS, SPLIT_NOTE, ceiling, cpuSnap, cpuSplit, eachTargetRounds, fmt, inlineRow, kfmt, medianBy, num, pct, ratio, splitCells,
  upstreamKind, warmStreams, type CpuSplit,
} from './common.js';
import type { Bar, RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow, Table } from './types.js';

interface Row {
  streams: number; done: number; failed: number; cut: number; statuses: Record<string, number>;
  idleMb: number; plateauMb: number; kbPerStream: number;
  ttfeP50: number; ttfeP99: number; gapP50: number; gapP99: number; proxyUs: number; cpu: CpuSplit; simUs: number; errors: string[]; peak: number;
}

/** Streams per generator process when --gen-procs is not given (CPU more than fds: each process is one event loop). */
const STREAMS_PER_GEN = 4000;

/**
 * With --rounds N every target is measured N times, each round in roundOrder, and its row is its median round by
 * gap p99 (with an even count, the lower of the middle two); the notes list every round's TTFB and gap p99, and
 * each round's ratios against that round's nginx. One round of 8000 paced streams on a shared 2-core machine
 * moved the gap p99 ratio from 1.9× to 2.9× between two runs of the same build.
 */
async function medianRounds(
  o: RunOptions, notes: string[], rounds: number, measure: (t: Target, sim: SimProc) => Promise<Row>,
  env: Record<string, string>, upstream: UpstreamKind,
): Promise<Map<TargetName, Row>> {
  const all = await eachTargetRounds(o, notes, rounds, measure, env, upstream);
  const rows = new Map<TargetName, Row>();
  for (const [name, rs] of all) rows.set(name, medianBy(rs, (r) => r.gapP99));
  if (rounds > 1) {
    const nginx = all.get('nginx');
    notes.push(`${rounds} rounds (--rounds): each target measured ${rounds} times, each round with fresh processes and starting one target later; every row is the target's median round by gap p99.`);
    for (const [name, rs] of all) {
      if (name === 'direct') continue;
      const per = rs.map((r, i) => {
        const ng = nginx?.[i];
        const vs = ng && name !== 'nginx' ? ` (${ratio(r.ttfeP99, ng.ttfeP99)}, ${ratio(r.gapP99, ng.gapP99)})` : '';
        return `${fmt(r.ttfeP99)}/${fmt(r.gapP99)} ms${vs}`;
      });
      notes.push(`${name} TTFB p99/gap p99 by round${name === 'nginx' ? '' : ' (vs that round\'s nginx)'}: ${per.join('; ')}`);
    }
  }
  return rows;
}

export const paced: Scenario = {
  name: 'paced',
  description: 'Many concurrent paced streams (default 8000 streams × 50 events at 10/s, opened at once, static upstream): completed, time to first byte and gap p99, RSS per stream, CPU-µs per event.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const levels = (o.flags['levels'] ?? '8000').split(',').map(Number).filter((n) => n > 0);
    const interval = num(o.flags['interval'], 100);
    const events = Math.max(2, Math.round(num(o.flags['events'], o.duration !== undefined ? (o.duration * 1000) / interval : 50)));
    const streamS = (events * interval) / 1000;
    const ramp = num(o.flags['ramp'], 0, true);
    const upstream = upstreamKind(o, 'static');
    const rounds = num(o.flags['rounds'], 1);
    const model = `sim/echo;tokens=${events - 1};interval=${interval}`;
    const tables: Table[] = [];
    const bars: Bar[] = [];
    const data: Record<string, unknown> = {};
    const byLevel = new Map<number, Map<TargetName, Row>>();
    const limit = fdLimit();
    for (const n of levels) {
      const notes: string[] = [];
      const procs = num(o.flags['gen-procs'], Math.ceil(n / STREAMS_PER_GEN));
      if (2 * n + 200 > limit || n / procs + 200 > limit) {
        notes.push(`${n} streams skipped: a proxied stream holds 2 fds and the fd limit is ${limit} per process (needs ulimit -n ≥ ${2 * n + 200}).`);
        tables.push({ title: `paced — ${n} streams`, columns: ['target'], rows: [], notes });
        continue;
      }
      o.log(` ${n} streams`);
      const opening = ramp > 0 ? n / ramp : 0;
      const measure = async (t: Target, sim: SimProc): Promise<Row> => {
        await warmStreams(t.origin);
        const sampler = new Sampler({ proxy: () => t.pids(), sim: () => [sim.pid] }).start(250);
        const m0 = sampler.mark();
        const s0 = cpuSnap(t);
        const idle = m0['proxy'] as Usage, idleSim = m0['sim'] as Usage;
        const r = await runSseLoad({ url: t.origin + CHAT_PATH, model, streams: n, ramp, procs, timeout: 2 * streamS + opening + 60 });
        const m1 = sampler.stop();
        const s1 = cpuSnap(t);
        const end = m1['proxy'] as Usage, endSim = m1['sim'] as Usage;
        const plateau = Math.max(...sampler.between('proxy', idle.t, end.t).map((u) => u.rssKb));
        const ev = Math.max(1, r.events);
        const cpu = cpuSplit(t, s0, s1, ev);
        return {
          streams: n, done: r.done, failed: r.httpErrors + r.errors + r.truncated, cut: r.aborted, statuses: r.statuses,
          errors: r.errorSamples, peak: r.peakActive,
          idleMb: MB(idle.rssKb), plateauMb: MB(plateau), kbPerStream: (plateau - idle.rssKb) / Math.max(1, r.peakActive),
          ttfeP50: r.ttfe.p50, ttfeP99: r.ttfe.p99, gapP50: r.gap.p50, gapP99: r.gap.p99,
          proxyUs: cpu.totalUs, cpu, simUs: ((endSim.cpuMs - idleSim.cpuMs) * 1000) / ev,
        };
      };
      const rows = await medianRounds(o, notes, rounds, measure, { MAX_CONCURRENT_CONNECTIONS: String(Math.max(20000, n * 2)) }, upstream);
      byLevel.set(n, rows);
      const nginx = rows.get('nginx');
      const inline = inlineRow(rows)?.proxyUs;
      const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
      tables.push({
        title: `paced — ${n} streams × ${events} events at ${fmt(1000 / interval, 0)}/s (${fmt(streamS, 1)} s each), ${ramp > 0 ? `opened at ${ramp}/s` : 'opened at once'}, ${upstream} upstream, ${procs} generator process(es)`,
        columns: ['target', 'completed', 'failed', 'cut', 'peak open', 'TTFB p50 ms', 'TTFB p99 ms', 'TTFB p99 vs nginx', 'gap p50 ms', 'gap p99 ms', 'gap p99 vs nginx',
          'proxy CPU µs/event', 'vs nginx', ...SPLIT_COLUMNS('event'), 'upstream CPU µs/event', 'idle RSS MB', 'peak RSS MB', 'KB/stream', 'KB vs nginx'],
        rows: [...rows].map(([name, r]) => [
          name, `${r.done}/${r.streams}`, String(r.failed), String(r.cut), String(r.peak), fmt(r.ttfeP50), fmt(r.ttfeP99), svc(name, ratio(r.ttfeP99, nginx?.ttfeP99)),
          fmt(r.gapP50), fmt(r.gapP99), svc(name, ratio(r.gapP99, nginx?.gapP99)),
          name === 'direct' ? '0' : fmt(r.proxyUs), svc(name, ratio(r.proxyUs, nginx?.proxyUs)), ...splitCells(r.cpu, inline), fmt(r.simUs),
          svc(name, fmt(r.idleMb, 0)), svc(name, fmt(r.plateauMb, 0)), svc(name, fmt(r.kbPerStream, 1)),
          svc(name, ratio(r.kbPerStream, nginx?.kbPerStream)),
        ]),
        notes: [...notes,
          ...[...rows].filter(([, r]) => r.failed > 0).map(([name, r]) => `${name} failures: statuses ${JSON.stringify(r.statuses)}; ${[...new Set(r.errors)].join('; ')}`),
          `"cut" = streams still running at the load's time limit (2 × stream length + opening + 60 s), aborted there: the machine could not keep up.`,
          'TTFB = request sent → first event read (the first body bytes), measured by the load generator in its own process(es); gap = between two reads that carried events. "direct" is the upstream without a proxy, for reference.',
          'Opened at once: all requests are dispatched together, so TTFB includes the accept backlog (SYN retries at 1 s, 3 s, …) for every target alike.',
          'KB/stream = (peak RSS, sampled every 250 ms − idle RSS after a warm-up) ÷ peak number of streams open at once (summed over generator processes).',
          'CPU µs/event = CPU of the whole load (connection setup included) ÷ events received.', SPLIT_NOTE,
          `A proxied stream holds 2 fds (limit ${limit} per process here); the generator holds 1 per stream, split over ${procs} process(es) (--gen-procs).`,
          ...[...rows].filter(([, r]) => r.cpu.busiest.length > 0).map(([name, r]) => `${name} busiest other threads, µs/event: ${r.cpu.busiest.join(', ')}`)],
      });
      for (const [target, r] of rows) if (target !== 'direct') bars.push({ group: `paced ${n}: proxy CPU µs per event`, target, value: r.proxyUs });
      data[String(n)] = Object.fromEntries(rows);
    }
    const summary: SummaryRow[] = [];
    const top = Math.max(0, ...byLevel.keys());
    const rows = byLevel.get(top);
    if (rows) {
      const nginx = rows.get('nginx'), def = rows.get('default');
      const inline = inlineRow(rows)?.proxyUs;
      const cells = (f: (r: Row) => SummaryCell | undefined): SummaryRow['cells'] =>
        Object.fromEntries([...rows].filter(([n]) => n !== 'direct').map(([n, r]) => [n, f(r)]).filter(([, c]) => c !== undefined));
      const under = (a: number | undefined, k: number, b: number | undefined): boolean | undefined =>
        a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) ? a <= k * b : undefined;
      summary.push(
        { order: 50, label: `${top} paced: completed`, ratio: false, cells: cells((r) => ({ value: r.done, text: String(r.done) })), goal: 'all', met: def ? def.done === def.streams : undefined },
        { order: 60, label: `${top} paced: time to first byte p99`, ratio: true, cells: cells((r) => ({ value: r.ttfeP99, text: `${fmt(r.ttfeP99 / 1000)} s` })), goal: '≤ nginx', met: under(def?.ttfeP99, 1, nginx?.ttfeP99) },
        { order: 70, label: `${top} paced: gap between events p99`, ratio: true, cells: cells((r) => ({ value: r.gapP99, text: `${fmt(r.gapP99, 0)} ms` })), goal: '≤ 2× nginx', met: under(def?.gapP99, 2, nginx?.gapP99) },
        { order: 80, label: `${top} paced: RSS per stream`, ratio: true, cells: cells((r) => ({ value: r.kbPerStream, text: `${fmt(r.kbPerStream, 1)} KB` })), goal: '≤ 1.5× nginx', met: under(def?.kbPerStream, 1.5, nginx?.kbPerStream) },
        {
          order: 85, label: `${top} paced: main-thread CPU per event (ceiling/s at one core; % of POOL_SIZE=0 total)`, ratio: false,
          cells: cells((r) => (r.cpu.mainUs === undefined ? undefined : { value: r.cpu.mainUs, text: `${fmt(r.cpu.mainUs)} µs (${kfmt(ceiling(r.cpu.mainUs))}/s; ${pct(r.cpu.mainUs, inline)})` })),
        },
      );
    }
    return { name: 'paced', description: this.description, tables, bars, summary, data };
  },
};
