// Rendering results: aligned text tables for the console and a markdown document for perf/results/latest.md.
import type { ScenarioResult, Table } from '../scenarios/types.js';

/** Display width, counting CJK/emoji as 1 (good enough for our ASCII-plus-µs/×/– tables). */
const width = (s: string): number => [...s].length;
const padEnd = (s: string, w: number): string => s + ' '.repeat(Math.max(0, w - width(s)));
const padStart = (s: string, w: number): string => ' '.repeat(Math.max(0, w - width(s))) + s;

export function textTable(t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(width(c), ...t.rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? padEnd(c, widths[i] ?? 0) : padStart(c, widths[i] ?? 0))).join('  ');
  const out = [t.title, line(t.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)];
  for (const n of t.notes) out.push(`  * ${n}`);
  return out.join('\n');
}

export function mdTable(t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`### ${t.title}`, ''];
  if (t.rows.length > 0) {
    out.push(`| ${t.columns.map(esc).join(' | ')} |`, `|${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of t.rows) out.push(`| ${r.map(esc).join(' | ')} |`);
    out.push('');
  }
  for (const n of t.notes) out.push(`- ${n}`);
  return out.join('\n');
}

export interface RunInfo {
  started: string;
  node: string;
  cpus: number;
  cpuModel: string;
  command: string;
  totalSeconds: number;
}

export function markdown(info: RunInfo, results: ScenarioResult[], summary: Table | null = null): string {
  const out = [
    '# Benchmark results (latest run)',
    '',
    `Written by \`${info.command}\` on ${info.started}: ${info.cpus} CPUs (${info.cpuModel}), Node ${info.node}, ${Math.round(info.totalSeconds)} s in all.`,
    'The machine is shared and noisy: compare the ratios within one run, not absolute numbers across runs.',
    '',
  ];
  if (summary) out.push(mdTable(summary).replace(/^### /, '## '), '');
  for (const r of results) {
    out.push(`## ${r.name}`, '', r.description, '');
    for (const t of r.tables) out.push(mdTable(t), '');
  }
  out.push('![CPU per request/event](latest.svg)', '');
  for (const f of results.flatMap((r) => r.files ?? []).filter((f) => f.name.endsWith('.svg'))) out.push(`![${f.name}](${f.name})`, '');
  return out.join('\n');
}
