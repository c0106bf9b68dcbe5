// `npm run bench [-- <scenario...>] [--duration S] [--targets a,b]`: runs named scenarios against the targets, prints tables and issue 13's summary, writes perf/results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAll } from './lib/children.js';
import { markdown, textTable, type RunInfo } from './lib/report.js';
import { summaryTable } from './lib/summary.js';
import { barChart } from './lib/svg.js';
import { NAMED_ONLY, TARGETS, type TargetName } from './lib/targets.js';
import { SCENARIOS } from './scenarios/index.js';
import type { ScenarioResult } from './scenarios/types.js';

const USAGE = `usage: npm run bench -- [scenario ...] [options]
scenarios: ${SCENARIOS.map((s) => `${s.name}${s.inDefault ? '' : ' (only when named)'}`).join(', ')}
  none named: the default set (${SCENARIOS.filter((s) => s.inDefault).map((s) => s.name).join(', ')}), written to perf/results/latest.*
targets: direct (the upstream alone), nginx, default (POOL_SIZE unset), pool0 (POOL_SIZE=0), pool (POOL_SIZE=2), image (as the Docker image starts it: deploy/entrypoint.sh, jemalloc), before0/before (--before), go (--go), floor (uWS + undici alone: perf/lib/floor.ts), rawfloor (the same with a hand-parsed client on node:net instead of undici)
options:
  --before DIR       a checkout of another build (dist/ built): targets before0 (POOL_SIZE=0) and before (=2) run it,
                     with the node flags of its own npm start (this build: src/start-command.ts)
  --go BIN           a build of the Go version it replaces (james-6-23/Deepinfra2api go-version/, \`go build\`): target go
environment: BENCH_NODE_OPTIONS (NODE_OPTIONS for every service target), BENCH_BEFORE_NODE_OPTIONS (before* only:
  an A/B of node flags on one build), BENCH_SERVICE_ENV (JSON: more environment for the service targets),
  BENCH_BEFORE_SERVICE_ENV (JSON, before* only: an A/B of environment on one build, e.g. LD_PRELOAD)
  --targets a,b      of ${TARGETS.join(',')} (default: all; soak: nginx,default; nginx is skipped when /usr/sbin/nginx is absent)
  --duration S       seconds of measurement per target (nonstream/stream22 10, events 10, soak 1200; paced: sets events = S×1000/interval)
  --upstream K       sim|static (defaults: static for nonstream, stream22, paced, slowclient, soak; sim for events, leave)
  --nginx-workers N  nginx worker_processes (1; 0 = auto)
  --connections N    nonstream/stream22: wrk connections (50)   --threads N  wrk threads (2)   --warmup S  warm-up (3; soak: min(120, duration/5))
  --logs             request logs on, as each deploys by default: nginx access_log (combined) to a file, the service
                     at its default LOG_LEVEL (info) to its stdout; off by default (nginx access_log off, LOG_LEVEL=warn)
  --upstream-host H  the service and the Go version reach the upstream by this name (one that resolves to 127.0.0.1,
                     e.g. localhost), not by 127.0.0.1: each new upstream connection then resolves it (nginx: once, at start)
  --rounds N         nonstream/stream22/paced: measure the targets N times in turn, each round starting one target
                     later; each row is the target's median round (1)
  --loadgen T        nonstream/stream22: wrk (default when /usr/bin/wrk exists) or autocannon (in the runner's process)
  --events N         stream22: data events per stream (22); paced/soak: events per stream (50)
  --model NAME       nonstream/stream22: model name sent (default sim/echo;tokens=8 / sim/echo;tokens=21;interval=0)
  --levels a,b       paced: concurrent streams (8000)  --ramp N  streams opened per second (0 = all at once)  --interval MS  ms between events (100)
  --gen-procs N      paced: load-generator processes (one per 4000 streams)
  --clients N        slowclient: clients (300); leave: clients (1000)   --sizes a,b  slowclient: event sizes in bytes (1024,65536)
  --settle S         slowclient: longest wait for RSS to settle (8)      --buffer B   slowclient: STREAM_BUFFER_SIZE for the service
  --marginal N       slowclient: clients of a second run on fresh processes, for the RSS per stream added (900; 0: none)
  --wait S           leave: how long to wait for the upstream to see every cancel (10)
  --streams N        events: concurrent streams (32); soak: concurrent paced streams (1000)   --sample S  soak: seconds between samples (5)
  --tokens N         events: events per stream (2000); slowread: size; slowclient: events per stream (64 MB worth)
  --rate KB          slowread: read rate in KB/s (64)
  --out DIR          where results go (default perf/results; runs of a subset go to perf/results/partial.tmp)`;

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' }, threads: { type: 'string' },
    streams: { type: 'string' }, tokens: { type: 'string' }, levels: { type: 'string' }, ramp: { type: 'string' },
    interval: { type: 'string' }, rate: { type: 'string' }, warmup: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' },
    upstream: { type: 'string' }, 'nginx-workers': { type: 'string' }, events: { type: 'string' }, 'gen-procs': { type: 'string' },
    clients: { type: 'string' }, marginal: { type: 'string' }, sizes: { type: 'string' }, settle: { type: 'string' }, buffer: { type: 'string' }, wait: { type: 'string' },
    logs: { type: 'boolean' }, 'upstream-host': { type: 'string' }, sample: { type: 'string' }, loadgen: { type: 'string' }, before: { type: 'string' }, go: { type: 'string' }, rounds: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
const targets = (v.targets?.split(',').map((t) => t.trim()).filter(Boolean) ?? TARGETS.filter((t) => !NAMED_ONLY.includes(t))) as TargetName[];
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
const isDefault = positionals.length === 0 && Object.keys(v).length === 0;
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
    const r = await s.run({ targets, explicitTargets: v.targets !== undefined, duration, flags: v as Record<string, string | undefined>, log: (m) => console.log(m) });
    results.push(r);
    for (const t of r.tables) console.log('\n' + textTable(t));
  }
} catch (e) {
  console.error(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  killAll();
  process.exitCode = 1;
}

info.totalSeconds = (performance.now() - t0) / 1000;
const summary = summaryTable(results);
if (summary) console.log('\n' + textTable(summary));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ info, summary, results }, null, 2) + '\n');
writeFileSync(join(outDir, 'latest.md'), markdown(info, results, summary));
for (const f of results.flatMap((r) => r.files ?? [])) writeFileSync(join(outDir, f.name), f.content);
const bars = results.flatMap((r) => r.bars);
writeFileSync(join(outDir, 'latest.svg'), barChart('Proxy CPU time per request / event (µs, lower is better)', bars));
console.log(`\nbench: done in ${info.totalSeconds.toFixed(0)} s; results in ${outDir}/latest.{json,md,svg}`);
