// Where a paused stream's memory goes: the service's RSS growth by kind of mapping (/proc/PID/smaps) for N clients that stop reading.
//
// The slowclient scenario reports RSS per stream; this splits the same growth into the main thread's malloc heap
// (`[heap]`: uWS's buffers, the main thread's ArrayBuffers), the other threads' malloc arenas (the pool's workers),
// other anonymous memory (V8's heap pages, among them the young generation sized up during the burst, which V8's
// memory reducer may return some 20 s after allocation stops; large allocations) and files. Two builds alternate in pairs, each run on
// fresh processes. `node dist/perf/smaps.js [--before DIR] [--pool N] [--clients N] [--settle S] [--pairs N]`
// after `npm run build`; DIR is another checkout's built tree (as `npm run bench -- --before DIR`).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSim, type SimProc } from './lib/sim.js';
import { startTarget, type TargetName } from './lib/targets.js';
import { closeAll, openClients } from './lib/raw-clients.js';
import { killAll } from './lib/children.js';
import { warmStreams } from './scenarios/common.js';
import { STREAM_BYTES } from './scenarios/slowclient.js';

const { values: o } = parseArgs({
  options: {
    before: { type: 'string' }, pool: { type: 'string', default: '0' }, clients: { type: 'string', default: '300' },
    settle: { type: 'string', default: '25' }, pairs: { type: 'string', default: '2' }, size: { type: 'string', default: '1024' },
  },
});

type Kind = 'main heap' | 'thread arenas' | 'other anonymous' | 'files';
const KINDS: readonly Kind[] = ['main heap', 'thread arenas', 'other anonymous', 'files'];
const ARENA_ALIGN = 64n << 20n; // glibc's thread arenas start on a 64 MiB boundary (HEAP_MAX_SIZE)

/**
 * Resident KB by kind. Mappings split and merge as they grow (V8's 256 KB pages merge into one when adjacent), so
 * kinds are totalled per snapshot and the totals compared, never mapping by mapping.
 */
function smaps(pid: number): Record<Kind, number> {
  const out: Record<Kind, number> = { 'main heap': 0, 'thread arenas': 0, 'other anonymous': 0, files: 0 };
  let kind: Kind = 'files';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const name = m[2] ?? '';
      kind = name === '[heap]' ? 'main heap' : name !== '' ? 'files' : BigInt(`0x${m[1]!}`) % ARENA_ALIGN === 0n ? 'thread arenas' : 'other anonymous';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) out[kind] += Number(r[1]);
  }
  return out;
}

/** KB of RSS growth per established stream, by kind, for one run on fresh processes. */
async function once(name: TargetName, sim: SimProc): Promise<{ n: number; perKind: Record<Kind, number> }> {
  const t = await startTarget(name, sim, { POOL_SIZE: o.pool! }, { beforeDir: o.before });
  try {
    const pid = t.mainPid!;
    await warmStreams(t.origin);
    const before = smaps(pid);
    const model = `sim/long;tokens=${Math.ceil(STREAM_BYTES / Number(o.size))};size=${o.size!}`;
    const clients = await openClients({ origin: t.origin, n: Number(o.clients), model: () => model, stopReading: true, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, Number(o.settle) * 1000));
    const after = smaps(pid);
    const n = clients.filter((c) => c.firstEventAt !== undefined).length;
    const perKind = { ...after };
    for (const k of KINDS) perKind[k] = (after[k] - before[k]) / n;
    closeAll(clients);
    return { n, perKind };
  } finally {
    await t.close();
  }
}

async function main(): Promise<void> {
  const sim = await startSim('static');
  const names: TargetName[] = o.before ? ['before', 'default'] : ['default'];
  const rows: string[] = [];
  try {
    for (let p = 1; p <= Number(o.pairs); p++) {
      for (const name of names) {
        const r = await once(name, sim);
        const total = KINDS.reduce((s, k) => s + r.perKind[k], 0);
        rows.push(`| ${p} | ${name === 'before' ? `before (${o.before!})` : 'this build'} | ${r.n} | ${total.toFixed(1)} | ${KINDS.map((k) => r.perKind[k].toFixed(1)).join(' | ')} |`);
        console.log(rows[rows.length - 1]);
      }
    }
  } finally {
    await sim.close();
  }
  console.log(`\n${o.clients!} clients stop reading ${o.size!}-byte events, POOL_SIZE=${o.pool!}, ${o.settle!} s to settle; KB of RSS growth per stream`);
  console.log(`| pair | build | streams | total | ${KINDS.join(' | ')} |\n|---|---|---|---|${KINDS.map(() => '---|').join('')}`);
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e);
  killAll();
  process.exitCode = 1;
});
