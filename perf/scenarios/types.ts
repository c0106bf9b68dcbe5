// The shape every scenario shares: options in, tables/chart bars/raw data out.
import type { TargetName } from '../lib/targets.js';

export interface RunOptions {
  targets: TargetName[];
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

export interface ScenarioResult {
  name: string;
  description: string;
  tables: Table[];
  bars: Bar[];
  data: unknown;
}

export interface Scenario {
  name: string;
  description: string;
  /** Included in `npm run bench` with no scenario named. */
  inDefault: boolean;
  run(o: RunOptions): Promise<ScenarioResult>;
}
