// The shape every scenario shares: options in, tables/chart bars/summary rows/extra files/raw data out.
import type { TargetName } from '../lib/targets.js';

export interface RunOptions {
  targets: TargetName[];
  /** True when --targets was given (soak runs fewer targets by default). */
  explicitTargets: boolean;
  /** Seconds of measurement (each scenario has its own default). */
  duration: number | undefined;
  /** Other --flags, as given. */
  flags: Readonly<Record<string, string | undefined>>;
  log(msg: string): void;
}

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  notes: string[];
}

/** One bar of the chart: a metric group (e.g. "CPU µs per request") and a target. */
export interface Bar {
  group: string;
  target: string;
  value: number;
}

/** One value of a summary row: the number ratios are taken from, and what is printed. */
export interface SummaryCell {
  value: number | undefined;
  text: string;
}

/** A row of the issue-13-shaped summary table (see perf/lib/summary.ts). */
export interface SummaryRow {
  /** Position in the table (the row order). */
  order: number;
  label: string;
  cells: Partial<Record<TargetName, SummaryCell>>;
  /** Print "(n.nn× nginx)" beside each service value. */
  ratio: boolean;
  /** Issue 13's aim for the default target, in words. */
  goal?: string;
  /** Whether the default target's figure meets the goal; undefined when there is no verdict. */
  met?: boolean;
}

export interface ScenarioResult {
  name: string;
  description: string;
  tables: Table[];
  bars: Bar[];
  data: unknown;
  summary?: SummaryRow[];
  /** Extra files for the results folder (e.g. soak.svg), by file name. */
  files?: Array<{ name: string; content: string }>;
}

export interface Scenario {
  name: string;
  description: string;
  /** Included in `npm run bench` with no scenario named. */
  inDefault: boolean;
  run(o: RunOptions): Promise<ScenarioResult>;
}
