// Scenario stream22: 22-event streams hammered like nonstream (wrk -t2 -c50, static upstream): streams/s, proxy CPU-µs per stream and per event, main thread apart.
import type { TargetName } from '../lib/targets.js';
import { SPLIT_COLUMNS, SPLIT_NOTE, ceiling, fmt, inlineRow, kfmt, num, pct, ratio, splitCells, type CpuSplit } from './common.js';
import { HAMMER_NOTES, hammerTargets, roundNotes } from './hammer.js';
import type { Bar, RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow } from './types.js';

/** A per-stream split divided by the events in a stream. */
const perEvent = (c: CpuSplit, events: number): CpuSplit => ({
  totalUs: c.totalUs / events, mainUs: c.mainUs === undefined ? undefined : c.mainUs / events,
  otherUs: c.otherUs === undefined ? undefined : c.otherUs / events, busiest: c.busiest,
});

export const stream22: Scenario = {
  name: 'stream22',
  description: 'Short streams (22 data events + [DONE], sent at once) at fixed concurrency (wrk -t2 -c50, static upstream): streams/s, proxy CPU-µs per stream and per event, main thread apart.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const events = num(o.flags['events'], 22);
    // The role chunk, then tokens-1 content chunks (the last one carrying finish_reason): `events` data events.
    const model = o.flags['model'] ?? `sim/echo;tokens=${events - 1};interval=0`;
    const notes: string[] = [];
    const { rows, setup } = await hammerTargets(o, notes, model, true);
    const nginx = rows.get('nginx');
    const ev = new Map([...rows].map(([n, r]) => [n, perEvent(r.cpu, events)]));
    const inline = inlineRow(ev)?.totalUs;
    const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
    const table = {
      title: `stream22 — ${events}-event streams, ${setup.load}, ${setup.duration} s (after ${setup.warmup} s warm-up), ${setup.upstream} upstream, model "${model}"`,
      columns: ['target', 'streams/s', 'vs nginx', 'p50 ms', 'p99 ms', 'proxy CPU µs/stream', 'vs nginx', 'µs/event', ...SPLIT_COLUMNS('event'),
        'main µs/stream', 'main-thread ceiling streams/s', 'upstream CPU µs/stream', 'non-2xx+errors', 'checked', 'proxy RSS MB'],
      rows: [...rows].map(([name, r]) => [
        name, fmt(r.rps, 0), ratio(r.rps, nginx?.rps), fmt(r.p50), fmt(r.p99),
        svc(name, fmt(r.cpu.totalUs)), svc(name, ratio(r.cpu.totalUs, nginx?.cpu.totalUs)), svc(name, fmt(r.cpu.totalUs / events)),
        ...splitCells(ev.get(name), inline), fmt(r.cpu.mainUs), kfmt(ceiling(r.cpu.mainUs)),
        fmt(r.upUs), String(r.bad), r.checked ? `${r.checked.done}/${r.checked.of} × ${fmt(r.checked.eventsEach, 0)} ev` : '–', svc(name, fmt(r.rssMb, 0)),
      ]),
      notes: [...notes, ...HAMMER_NOTES, SPLIT_NOTE, ...roundNotes(rows, setup, 'stream'),
        `"checked": before the load, 5 streams read by the SSE generator: complete ones (ending in [DONE]) × events each, [DONE] included (expect ${events + 1}).`,
        'wrk counts a stream when its chunked response ends; it does not parse events. µs/event = µs/stream ÷ the data events in a stream.',
        ...[...rows].filter(([, r]) => r.cpu.busiest.length > 0).map(([name, r]) => `${name} busiest other threads, µs/stream: ${r.cpu.busiest.join(', ')}`)],
    };
    const bars: Bar[] = [...rows].filter(([n]) => n !== 'direct').map(([target, r]) => ({ group: `stream22: proxy CPU µs per ${events}-event stream`, target, value: r.cpu.totalUs }));
    const cells = (f: (name: TargetName) => SummaryCell | undefined): SummaryRow['cells'] =>
      Object.fromEntries([...rows.keys()].filter((n) => n !== 'direct').map((n) => [n, f(n)]).filter(([, c]) => c !== undefined));
    const def = rows.get('default');
    const poolEv = ev.get('pool');
    const summary: SummaryRow[] = [
      { order: 30, label: `${events}-event stream req/s`, ratio: true, cells: cells((n) => ({ value: rows.get(n)?.rps, text: kfmt(rows.get(n)?.rps) })) },
      {
        order: 40, label: `${events}-event stream proxy CPU per stream`, ratio: true,
        cells: cells((n) => ({ value: rows.get(n)?.cpu.totalUs, text: `${fmt(rows.get(n)?.cpu.totalUs)} µs` })),
        goal: '≤ 2.5× nginx', met: def && nginx ? def.cpu.totalUs <= 2.5 * nginx.cpu.totalUs : undefined,
      },
      {
        order: 45, label: `${events}-event stream main-thread CPU per event (ceiling/s at one core; % of POOL_SIZE=0 total)`, ratio: false,
        cells: cells((n) => {
          const m = ev.get(n)?.mainUs;
          return m === undefined ? undefined : { value: m, text: `${fmt(m)} µs (${kfmt(ceiling(m))}/s; ${pct(m, inline)})` };
        }),
        goal: 'pool: ≤ 35 % of POOL_SIZE=0 total',
        met: poolEv?.mainUs !== undefined && inline !== undefined ? poolEv.mainUs <= 0.35 * inline : undefined,
      },
    ];
    return { name: 'stream22', description: this.description, tables: [table], bars, summary, data: Object.fromEntries(rows) };
  },
};
