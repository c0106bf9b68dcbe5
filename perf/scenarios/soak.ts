// Scenario soak (not in the default set): paced streams renewed for --duration s; RSS, open fds, event-loop delay and errors sampled over time; growth, errors, fds back; soak.svg.
import { setTimeout as sleep } from 'node:timers/promises';
import { fdCount, rssKb } from '../lib/proc.js';
import type { SseProgress } from '../lib/sse-load.js';
import { runSseLoad } from '../lib/sse-run.js';
import { lineChart, type Panel } from '../lib/svg.js';
import { TARGETS, type Target, type TargetName } from '../lib/targets.js';
import { CHAT_PATH, MB, eachTarget, fmt, num, upstreamKind, warmStreams } from './common.js';
import type { RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow } from './types.js';

interface Sample { t: number; rssMb: number; fds: number; loopP99: number | undefined; errors: number; open: number; done: number }

interface Row {
  durationS: number; streams: number; requests: number; done: number; errors: number; errorSamples: string[];
  rssWarmMb: number; rssEndMb: number; rssMaxMb: number; growthPct: number;
  fdsBefore: number; fdsPeak: number; fdsAfter: number; fdsBack: boolean; loopP99Max: number | undefined;
  gapP99: number; samples: Sample[];
}

/** Extra fds allowed at the end: idle keep-alive connections to the upstream may outlive the load by a few seconds. */
const FD_SLACK = 4;

/**
 * Waits until the count is within `slack` of `target`, or has not changed for 3 s after at least `minS` s
 * (at most 20 s); returns the count.
 */
async function settleFds(count: () => number, target = -Infinity, slack = 0, minS = 0): Promise<number> {
  let last = count(), same = 0;
  for (let i = 0; i < 20 && last > target + slack && (same < 3 || i < minS); i++) {
    await sleep(1000);
    const n = count();
    same = n === last ? same + 1 : 0;
    last = n;
  }
  return last;
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function loopP99(t: Target): Promise<number | undefined> {
  const d = (await t.status())?.['event_loop_delay_ms'] as Record<string, unknown> | undefined;
  return typeof d?.['p99_ms'] === 'number' ? d['p99_ms'] : undefined;
}

export const soak: Scenario = {
  name: 'soak',
  description: 'Paced streams renewed continuously for --duration s (default 1200): RSS, open fds, event-loop delay and errors sampled; RSS growth after warm-up, errors, fds back to baseline; chart in soak.svg.',
  inDefault: false,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const duration = o.duration ?? 1200;
    const streams = num(o.flags['streams'], 1000);
    const interval = num(o.flags['interval'], 100);
    const events = num(o.flags['events'], 50);
    const every = num(o.flags['sample'], 5);
    const warmup = num(o.flags['warmup'], Math.min(120, duration / 5));
    const streamS = (events * interval) / 1000;
    const model = `sim/echo;tokens=${events - 1};interval=${interval}`;
    const upstream = upstreamKind(o, 'static');
    const targets: TargetName[] = o.explicitTargets ? o.targets : TARGETS.filter((t) => t === 'nginx' || t === 'default');
    const notes: string[] = [];
    o.log(`  ${targets.join(', ')}: ${duration} s each`);
    const rows = await eachTarget({ ...o, targets }, notes, async (t): Promise<Row> => {
      await warmStreams(t.origin);
      const fdsOf = (): number => t.pids().reduce((s, p) => s + fdCount(p), 0);
      const rssOf = (): number => MB(t.pids().reduce((s, p) => s + rssKb(p), 0));
      // The warm-up's keep-alive connections close first (the static upstream and uWS drop idle ones after 10 s).
      const fdsBefore = await settleFds(fdsOf, -Infinity, 0, 12);
      let progress: SseProgress | undefined;
      const samples: Sample[] = [];
      const t0 = performance.now();
      const take = async (): Promise<void> => {
        const p = progress;
        samples.push({
          t: (performance.now() - t0) / 1000, rssMb: rssOf(), fds: fdsOf(), loopP99: await loopP99(t),
          errors: p ? p.httpErrors + p.errors + p.truncated : 0, open: p?.open ?? 0, done: p?.done ?? 0,
        });
      };
      await take();
      let running = true;
      const load = runSseLoad(
        { url: t.origin + CHAT_PATH, model, streams, repeat: true, ramp: streams / streamS, duration, warmup: 0, progress: every, timeout: duration + 120 },
        () => {}, (p) => {
          progress = p;
        },
      ).finally(() => {
        running = false;
      });
      const sampling = (async (): Promise<void> => {
        while (running) {
          await sleep(every * 1000);
          if (running) await take();
        }
      })();
      const r = await load;
      await sampling;
      const loaded = samples.slice();
      // After the load: wait for descriptors to come back (keep-alive connections time out), up to 20 s.
      const fdsAfter = await settleFds(fdsOf, fdsBefore, FD_SLACK);
      samples.push({ ...(loaded[loaded.length - 1] as Sample), t: (performance.now() - t0) / 1000, rssMb: rssOf(), fds: fdsAfter, loopP99: await loopP99(t) });
      const warm = loaded.filter((s) => s.t <= warmup && s.t >= warmup - 3 * every);
      const afterWarm = loaded.filter((s) => s.t > warmup);
      const rssWarmMb = mean((warm.length > 0 ? warm : loaded.slice(0, 1)).map((s) => s.rssMb));
      const rssEndMb = mean(loaded.slice(-3).map((s) => s.rssMb));
      const loops = loaded.map((s) => s.loopP99).filter((v): v is number => v !== undefined);
      return {
        durationS: duration, streams, requests: r.requests, done: r.done, errors: r.httpErrors + r.errors + r.truncated, errorSamples: r.errorSamples,
        rssWarmMb, rssEndMb, rssMaxMb: Math.max(0, ...afterWarm.map((s) => s.rssMb)), growthPct: (100 * (rssEndMb - rssWarmMb)) / rssWarmMb,
        fdsBefore, fdsPeak: Math.max(...loaded.map((s) => s.fds)), fdsAfter, fdsBack: fdsAfter <= fdsBefore + FD_SLACK,
        loopP99Max: loops.length > 0 ? Math.max(...loops) : undefined, gapP99: r.gap.p99, samples,
      };
    }, { MAX_CONCURRENT_CONNECTIONS: String(Math.max(20000, streams * 2)) }, upstream);
    const table = {
      title: `soak — ${streams} paced streams (${events} events at ${fmt(1000 / interval, 0)}/s, renewed as they end) for ${duration} s, ${upstream} upstream, sampled every ${every} s, warm-up ${fmt(warmup, 0)} s`,
      columns: ['target', 'streams done', 'errors', 'gap p99 ms', 'RSS at warm-up MB', 'RSS end MB', 'max MB', 'growth after warm-up', 'fds before', 'peak', 'after', 'fds back', 'loop delay p99 max ms'],
      rows: [...rows].map(([name, r]) => [
        name, String(r.done), String(r.errors), fmt(r.gapP99), fmt(r.rssWarmMb, 0), fmt(r.rssEndMb, 0), fmt(r.rssMaxMb, 0), `${fmt(r.growthPct, 1)} %`,
        String(r.fdsBefore), String(r.fdsPeak), String(r.fdsAfter), r.fdsBack ? 'yes' : 'no', fmt(r.loopP99Max),
      ]),
      notes: [...notes,
        ...[...rows].filter(([, r]) => r.errors > 0).map(([n, r]) => `${n} errors: ${[...new Set(r.errorSamples)].join('; ')}`),
        'Growth after warm-up = (mean RSS of the last 3 samples under load − mean RSS of the samples in the last 3 intervals of the warm-up) ÷ the latter (issue 13: < 5 % over 20 minutes).',
        `fds = entries of /proc/PID/fd (nginx: master + worker); "before" = once the warm-up\'s connections have closed, "after" = up to 20 s after the load ended, "back" = within ${FD_SLACK} of before (idle upstream keep-alive connections may linger).`,
        'Loop delay = /status event_loop_delay_ms.p99_ms at each sample (service only). Errors = streams that failed or ended without [DONE]; the streams cut at the end of the run are not errors.',
        'Chart: soak.svg in the results folder.'],
    };
    const series = (f: (s: Sample) => number | undefined): Panel['series'] => [...rows].map(([name, r]) => ({
      name, points: r.samples.map((s): [number, number] => [s.t, f(s) ?? NaN]),
    }));
    const svg = lineChart(`soak: ${streams} paced streams renewed for ${duration} s`, [
      { title: 'proxy RSS (MB)', series: series((s) => s.rssMb) },
      { title: 'open file descriptors', series: series((s) => s.fds) },
      { title: 'event-loop delay p99 (ms, service /status)', series: series((s) => s.loopP99) },
      { title: 'errors (cumulative)', series: series((s) => s.errors) },
    ], 's', [{ x: warmup, label: 'warm-up end' }, { x: duration, label: 'load ends' }]);
    const cells = (f: (r: Row) => SummaryCell): SummaryRow['cells'] =>
      Object.fromEntries([...rows].filter(([n]) => n !== 'direct').map(([n, r]): [TargetName, SummaryCell] => [n, f(r)]));
    const def = rows.get('default');
    const summary: SummaryRow[] = [
      { order: 110, label: `soak ${duration} s: RSS growth after warm-up`, ratio: false, cells: cells((r) => ({ value: r.growthPct, text: `${fmt(r.growthPct, 1)} %` })), goal: '< 5 %', met: def ? def.growthPct < 5 : undefined },
      { order: 111, label: `soak ${duration} s: errors`, ratio: false, cells: cells((r) => ({ value: r.errors, text: String(r.errors) })), goal: '0', met: def ? def.errors === 0 : undefined },
      { order: 112, label: `soak ${duration} s: fds before → after`, ratio: false, cells: cells((r) => ({ value: r.fdsAfter, text: `${r.fdsBefore} → ${r.fdsAfter}` })), goal: 'back to baseline', met: def?.fdsBack },
    ];
    return { name: 'soak', description: this.description, tables: [table], bars: [], summary, files: [{ name: 'soak.svg', content: svg }], data: Object.fromEntries(rows) };
  },
};
