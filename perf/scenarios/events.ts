// Scenario events: streamed events/s over a few long unpaced streams, proxy CPU-µs per event (main thread apart) and simulator CPU-µs per event.
import { usage, type Usage } from '../lib/proc.js';
import { runSseLoad } from '../lib/sse-run.js';
import { CHAT_PATH, MB, SPLIT_COLUMNS, SPLIT_NOTE, cpuSnap, cpuSplit, eachTarget, fmt, inlineRow, num, ratio, splitCells, upstreamKind, type CpuSnap, type CpuSplit } from './common.js';
import type { Bar, RunOptions, Scenario, ScenarioResult } from './types.js';

interface Row { eventsPerS: number; proxyUs: number; cpu: CpuSplit; simUs: number; done: number; bad: number; rssMb: number; ttfeP50: number }

export const events: Scenario = {
  name: 'events',
  description: 'Events/s relayed over a few long streams sent as fast as possible (interval=0), CPU-µs per event.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const duration = o.duration ?? 10;
    const streams = num(o.flags['streams'], 32);
    const tokens = num(o.flags['tokens'], 2000);
    const warmup = num(o.flags['warmup'], 2);
    const model = `sim/echo;tokens=${tokens};interval=0`;
    const notes: string[] = [];
    const rows = await eachTarget(o, notes, async (t, sim): Promise<Row> => {
      const at: Record<string, { p: CpuSnap; s: Usage; events: number; t: number }> = {};
      const r = await runSseLoad(
        { url: t.origin + CHAT_PATH, model, streams, repeat: true, warmup, duration, timeout: warmup + duration + 30 },
        (m) => {
          at[m.name] = { p: cpuSnap(t), s: usage([sim.pid]), events: m.events, t: m.t };
        },
      );
      const s = at['start'], e = at['end'];
      if (!s || !e) throw new Error('events: the load generator sent no start/end marks');
      const n = Math.max(1, e.events - s.events);
      const cpu = cpuSplit(t, s.p, e.p, n);
      return {
        eventsPerS: n / ((e.t - s.t) / 1000),
        proxyUs: cpu.totalUs, cpu,
        simUs: ((e.s.cpuMs - s.s.cpuMs) * 1000) / n,
        done: r.done, bad: r.httpErrors + r.errors + r.truncated, rssMb: MB(e.p.u.rssKb), ttfeP50: r.ttfe.p50,
      };
    }, {}, upstreamKind(o, 'sim'));
    const direct = rows.get('direct');
    const inline = inlineRow(rows)?.proxyUs;
    const nginx = rows.get('nginx');
    const table = {
      title: `events — ${streams} concurrent streams of ${tokens} events, interval 0, ${duration} s`,
      columns: ['target', 'events/s', 'vs direct', 'proxy CPU µs/event', 'vs nginx', ...SPLIT_COLUMNS('event'), 'sim CPU µs/event', 'streams done', 'failed', 'proxy RSS MB'],
      rows: [...rows].map(([name, r]) => [
        name, fmt(r.eventsPerS, 0), ratio(r.eventsPerS, direct?.eventsPerS),
        name === 'direct' ? '0' : fmt(r.proxyUs), name === 'direct' ? '–' : ratio(r.proxyUs, nginx?.proxyUs), ...splitCells(r.cpu, inline),
        fmt(r.simUs), String(r.done), String(r.bad), name === 'direct' ? '–' : fmt(r.rssMb, 0),
      ]),
      notes: [...notes, 'Events arrive coalesced (several per read) at this rate; streams still open at the end are aborted, not counted as failures.', SPLIT_NOTE,
        ...[...rows].filter(([, r]) => r.cpu.busiest.length > 0).map(([name, r]) => `${name} busiest other threads, µs/event: ${r.cpu.busiest.join(', ')}`)],
    };
    const bars: Bar[] = [...rows].filter(([n]) => n !== 'direct').map(([target, r]) => ({ group: 'events: proxy CPU µs per event (unpaced)', target, value: r.proxyUs }));
    return { name: 'events', description: this.description, tables: [table], bars, data: Object.fromEntries(rows) };
  },
};
