// The summary shaped like issue 13's table: its rows (from whichever scenarios ran), columns nginx / default / POOL_SIZE=0 / pool / the image's start / another build / the Go version / the floors (those that ran), each with its ratio vs nginx.
import type { ScenarioResult, SummaryRow, Table } from '../scenarios/types.js';
import { TARGET_LABEL, type TargetName } from './targets.js';

const COLUMNS: readonly TargetName[] = ['nginx', 'default', 'pool0', 'pool', 'image', 'before0', 'before', 'go', 'floor', 'rawfloor'];

function ratioText(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '';
  return ` (${(a / b).toFixed(2)}×)`;
}

/** Null when no scenario that ran contributes a row. */
export function summaryTable(results: readonly ScenarioResult[]): Table | null {
  const rows: SummaryRow[] = results.flatMap((r) => r.summary ?? []).sort((a, b) => a.order - b.order);
  if (rows.length === 0) return null;
  const cols = COLUMNS.filter((c) => rows.some((r) => r.cells[c] !== undefined));
  return {
    title: 'Summary — issue 13\'s table, this run (ratios vs nginx in the same run)',
    columns: ['', ...cols.map((c) => TARGET_LABEL[c] ?? c), 'goal (default unless named)', 'met'],
    rows: rows.map((r) => {
      const base = r.cells.nginx?.value;
      return [
        r.label,
        ...cols.map((c) => {
          const cell = r.cells[c];
          if (!cell) return '–';
          return c !== 'nginx' && r.ratio ? cell.text + ratioText(cell.value, base) : cell.text;
        }),
        r.goal ?? '',
        r.met === undefined ? '' : r.met ? 'yes' : 'no',
      ];
    }),
    notes: [
      'Each row comes from the scenario tables below (same run, same machine); "default" = the service with no POOL_SIZE set (what it chose is in the scenario notes).',
      '"met" reports this run against issue 13\'s aims; a benchmark on a shared 2-core machine is a measurement, not a test.',
    ],
  };
}
