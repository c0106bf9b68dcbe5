// Scenario nonstream: non-stream requests/s under wrk -t2 -c50 against a static upstream; proxy CPU-µs per request, main thread split from the rest.
import type { TargetName } from '../lib/targets.js';
import { SPLIT_COLUMNS, SPLIT_NOTE, ceiling, fmt, inlineRow, kfmt, pct, ratio, splitCells } from './common.js';
import { HAMMER_NOTES, hammerTargets, roundNotes } from './hammer.js';
import type { Bar, RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow } from './types.js';

export const nonstream: Scenario = {
  name: 'nonstream',
  description: 'Non-stream chat requests/s at fixed concurrency (wrk -t2 -c50, static upstream) and proxy CPU-µs per request, main thread apart.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const model = o.flags['model'] ?? 'sim/echo;tokens=8';
    const notes: string[] = [];
    const { rows, setup } = await hammerTargets(o, notes, model, false);
    const nginx = rows.get('nginx');
    const inline = inlineRow(rows)?.cpu.totalUs;
    const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
    const table = {
      title: `nonstream — ${setup.load}, ${setup.duration} s (after ${setup.warmup} s warm-up), ${setup.upstream} upstream, model "${model}"`,
      columns: ['target', 'req/s', 'vs nginx', 'p50 ms', 'p99 ms', 'proxy CPU µs/req', 'vs nginx', ...SPLIT_COLUMNS('req', 'requests'),
        'upstream CPU µs/req', 'non-2xx+errors', 'proxy RSS MB'],
      rows: [...rows].map(([name, r]) => [
        name, fmt(r.rps, 0), ratio(r.rps, nginx?.rps), fmt(r.p50), fmt(r.p99),
        svc(name, fmt(r.cpu.totalUs)), svc(name, ratio(r.cpu.totalUs, nginx?.cpu.totalUs)), ...splitCells(r.cpu, inline),
        fmt(r.upUs), String(r.bad), svc(name, fmt(r.rssMb, 0)),
      ]),
      notes: [...notes, ...HAMMER_NOTES, SPLIT_NOTE, ...roundNotes(rows, setup, 'req'),
        ...[...rows].filter(([, r]) => r.cpu.busiest.length > 0).map(([name, r]) => `${name} busiest other threads, µs/req: ${r.cpu.busiest.join(', ')}`)],
    };
    const bars: Bar[] = [...rows].filter(([n]) => n !== 'direct').map(([target, r]) => ({ group: 'nonstream: proxy CPU µs per request', target, value: r.cpu.totalUs }));
    const cells = (f: (name: TargetName) => SummaryCell | undefined): SummaryRow['cells'] =>
      Object.fromEntries([...rows.keys()].filter((n) => n !== 'direct').map((n) => [n, f(n)]).filter(([, c]) => c !== undefined));
    const def = rows.get('default');
    const summary: SummaryRow[] = [
      { order: 10, label: 'non-stream req/s', ratio: true, cells: cells((n) => ({ value: rows.get(n)?.rps, text: kfmt(rows.get(n)?.rps) })) },
      {
        order: 20, label: 'non-stream proxy CPU per request', ratio: true,
        cells: cells((n) => ({ value: rows.get(n)?.cpu.totalUs, text: `${fmt(rows.get(n)?.cpu.totalUs)} µs` })),
        goal: '≤ 2× nginx', met: def && nginx ? def.cpu.totalUs <= 2 * nginx.cpu.totalUs : undefined,
      },
      {
        order: 25, label: 'non-stream main-thread CPU per request (ceiling/s at one core; % of POOL_SIZE=0 total)', ratio: false,
        cells: cells((n) => {
          const m = rows.get(n)?.cpu.mainUs;
          return m === undefined ? undefined : { value: m, text: `${fmt(m)} µs (${kfmt(ceiling(m))}/s; ${pct(m, inline)})` };
        }),
      },
    ];
    return { name: 'nonstream', description: this.description, tables: [table], bars, summary, data: Object.fromEntries(rows) };
  },
};
