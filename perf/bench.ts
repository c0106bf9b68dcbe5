// `npm run bench [-- <scenario...>] [--duration S] [--targets a,b]`: runs named scenarios against the targets, prints tables, writes perf/results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAll } from './lib/children.js';
import { markdown, textTable, type RunInfo } from './lib/report.js';
import { barChart } from './lib/svg.js';
import { TARGETS, type TargetName } from './lib/targets.js';
import { SCENARIOS } from './scenarios/index.js';
import type { ScenarioResult } from './scenarios/types.js';

const USAGE = `usage: npm run bench -- [scenario ...] [options]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')} (none named: the default set, written to perf/results/latest.*)
options:
  --targets a,b      of ${TARGETS.join(',')} (default: all; nginx is skipped when /usr/sbin/nginx is absent)
  --duration S       seconds of measurement per target (defaults: nonstream 10, events 10, paced 15, slowclient 12)
  --connections N    nonstream: autocannon connections (64)
  --streams N        events: concurrent streams (32)     --tokens N   events: events per stream (2000); slowclient: size (20000)
  --levels a,b       paced: stream counts (1000,2000)    --ramp N     paced: streams opened per second (500)
  --interval MS      paced: ms between events (100)      --rate KB    slowclient: read rate in KB/s (64)
  --warmup S         warm-up seconds: nonstream (3), events (2)
  --out DIR          where results go (default perf/results; runs of a subset go to perf/results/partial.tmp)`;

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' }, streams: { type: 'string' },
    tokens: { type: 'string' }, levels: { type: 'string' }, ramp: { type: 'string' }, interval: { type: 'string' },
    rate: { type: 'string' }, warmup: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
const targets = (v.targets?.split(',').map((t) => t.trim()).filter(Boolean) ?? [...TARGETS]) as TargetName[];
const badTargets = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
if (unknown.length > 0 || badTargets.length > 0) {
  console.error(`unknown ${unknown.length ? `scenario ${unknown.join(', ')}` : `target ${badTargets.join(', ')}`}\n${USAGE}`);
  process.exit(2);
}
const chosen = positionals.length > 0 ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS.filter((s) => s.inDefault);
const duration = v.duration !== undefined ? Number(v.duration) : undefined;
if (duration !== undefined && !(duration > 0)) {
  console.error('--duration must be a positive number of seconds');
  process.exit(2);
}
const isDefault = positionals.length === 0 && v.targets === undefined && v.duration === undefined;
const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = v.out ?? join(root, 'perf', 'results', ...(isDefault ? [] : ['partial.tmp']));

const t0 = performance.now();
const cpu = cpus();
const info: RunInfo = {
  started: new Date().toISOString(),
  node: process.versions.node,
  cpus: cpu.length,
  cpuModel: cpu[0]?.model.trim() ?? 'unknown',
  command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
  totalSeconds: 0,
};
console.log(`bench: ${chosen.map((s) => s.name).join(', ')} × ${targets.join(', ')} — ${info.cpus} CPUs, Node ${info.node}`);

const results: ScenarioResult[] = [];
try {
  for (const s of chosen) {
    console.log(`\n== ${s.name}: ${s.description}`);
    const r = await s.run({ targets, duration, flags: v as Record<string, string | undefined>, log: (m) => console.log(m) });
    results.push(r);
    for (const t of r.tables) console.log('\n' + textTable(t));
  }
} catch (e) {
  console.error(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  killAll();
  process.exitCode = 1;
}

info.totalSeconds = (performance.now() - t0) / 1000;
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ info, results }, null, 2) + '\n');
writeFileSync(join(outDir, 'latest.md'), markdown(info, results));
const bars = results.flatMap((r) => r.bars);
writeFileSync(join(outDir, 'latest.svg'), barChart('Proxy CPU time per request / event (µs, lower is better)', bars));
console.log(`\nbench: done in ${info.totalSeconds.toFixed(0)} s; results in ${outDir}/latest.{json,md,svg}`);
