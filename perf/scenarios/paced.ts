// Scenario paced: thousands of concurrent streams at 10 events/s: RSS per stream, added time to first event, CPU per event.
import { fdLimit, Sampler, type Usage } from '../lib/proc.js';
import { runSseLoad } from '../lib/sse-run.js';
import { CHAT_PATH, MB, eachTarget, fmt, num, ratio, warmStreams } from './common.js';
import type { Bar, RunOptions, Scenario, ScenarioResult, Table } from './types.js';

interface Row {
  streams: number; done: number; failed: number; cut: number; statuses: Record<string, number>;
  idleMb: number; plateauMb: number; kbPerStream: number;
  ttfeP50: number; ttfeP99: number; gapP99: number; proxyUs: number; simUs: number; errors: string[]; peak: number;
}

export const paced: Scenario = {
  name: 'paced',
  description: 'Many concurrent paced streams (10 events/s each): RSS per stream, time to first event, CPU-µs per event.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const duration = o.duration ?? 15;
    const levels = (o.flags['levels'] ?? '1000,2000').split(',').map(Number).filter((n) => n > 0);
    const interval = num(o.flags['interval'], 100);
    const tokens = Math.max(2, Math.round((duration * 1000) / interval));
    const model = `sim/echo;tokens=${tokens};interval=${interval}`;
    const tables: Table[] = [];
    const bars: Bar[] = [];
    const data: Record<string, unknown> = {};
    const limit = fdLimit();
    for (const n of levels) {
      const notes: string[] = [];
      if (2 * n + 200 > limit) {
        notes.push(`${n} streams skipped: a proxied stream holds 2 fds and the fd limit is ${limit} (needs ulimit -n ≥ ${2 * n + 200}).`);
        tables.push({ title: `paced — ${n} streams`, columns: ['target'], rows: [], notes });
        continue;
      }
      const ramp = num(o.flags['ramp'], 500);
      o.log(` ${n} streams`);
      const rows = await eachTarget(o, notes, async (t, sim): Promise<Row> => {
        await warmStreams(t.origin);
        const sampler = new Sampler({ proxy: () => t.pids(), sim: () => [sim.pid] }).start(250);
        const m0 = sampler.mark();
        const idle = m0['proxy'] as Usage, idleSim = m0['sim'] as Usage;
        const r = await runSseLoad({ url: t.origin + CHAT_PATH, model, streams: n, ramp, timeout: 2 * duration + n / ramp + 15 });
        const m1 = sampler.stop();
        const end = m1['proxy'] as Usage, endSim = m1['sim'] as Usage;
        const plateau = Math.max(...sampler.between('proxy', idle.t, end.t).map((u) => u.rssKb));
        const ev = Math.max(1, r.events);
        return {
          streams: n, done: r.done, failed: r.httpErrors + r.errors + r.truncated, cut: r.aborted, statuses: r.statuses,
          errors: r.errorSamples, peak: r.peakActive,
          idleMb: MB(idle.rssKb), plateauMb: MB(plateau), kbPerStream: (plateau - idle.rssKb) / Math.max(1, r.peakActive),
          ttfeP50: r.ttfe.p50, ttfeP99: r.ttfe.p99, gapP99: r.gap.p99,
          proxyUs: ((end.cpuMs - idle.cpuMs) * 1000) / ev, simUs: ((endSim.cpuMs - idleSim.cpuMs) * 1000) / ev,
        };
      }, { MAX_CONCURRENT_CONNECTIONS: String(Math.max(20000, n * 2)) });
      const direct = rows.get('direct');
      const nginx = rows.get('nginx');
      const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
      tables.push({
        title: `paced — ${n} streams × ${tokens} events at ${1000 / interval}/s (${duration} s), opened at ${ramp}/s`,
        columns: ['target', 'done', 'failed', 'cut', 'peak open', 'TTFE p50 ms', 'TTFE p99 ms', 'added p50/p99 ms', 'gap p99 ms',
          'proxy CPU µs/event', 'vs nginx', 'sim CPU µs/event', 'idle RSS MB', 'peak RSS MB', 'KB/stream', 'KB vs nginx'],
        rows: [...rows].map(([name, r]) => [
          name, `${r.done}/${r.streams}`, String(r.failed), String(r.cut), String(r.peak), fmt(r.ttfeP50), fmt(r.ttfeP99),
          direct && name !== 'direct' ? `${fmt(r.ttfeP50 - direct.ttfeP50)} / ${fmt(r.ttfeP99 - direct.ttfeP99)}` : '–',
          fmt(r.gapP99),
          name === 'direct' ? '0' : fmt(r.proxyUs), svc(name, ratio(r.proxyUs, nginx?.proxyUs)), fmt(r.simUs),
          svc(name, fmt(r.idleMb, 0)), svc(name, fmt(r.plateauMb, 0)), svc(name, fmt(r.kbPerStream, 1)),
          svc(name, ratio(r.kbPerStream, nginx?.kbPerStream)),
        ]),
        notes: [...notes,
          ...[...rows].filter(([, r]) => r.failed > 0).map(([name, r]) => `${name} failures: statuses ${JSON.stringify(r.statuses)}; ${[...new Set(r.errors)].join('; ')}`),
          '"cut" = streams still running at the load\'s time limit (2 × duration + ramp + 15 s), aborted there: the machine could not keep up with the pace.',
          'KB/stream = (peak RSS, sampled every 250 ms − idle RSS after a warm-up) ÷ peak number of streams open at once.',
          'CPU µs/event = CPU of the whole load (connection setup included) ÷ events received.',
          'TTFE = request sent → first event read, measured by the load generator (its own process); "added" is against direct.',
          '10,000 streams need ulimit -n above 20,000 for a proxy (2 fds per stream); the generator holds 1 fd per stream in its own process.'],
      });
      for (const [target, r] of rows) if (target !== 'direct') bars.push({ group: `paced ${n}: proxy CPU µs per event`, target, value: r.proxyUs });
      data[String(n)] = Object.fromEntries(rows);
    }
    return { name: 'paced', description: this.description, tables, bars, data };
  },
};
