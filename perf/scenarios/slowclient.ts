// Scenario slowclient: hundreds of clients open a long stream and stop reading; proxy RSS growth per stream after settling (and per added stream, from a larger run), for 1 KB and 64 KB events, vs nginx and vs STREAM_BUFFER_SIZE + 16 KB.
import { setTimeout as sleep } from 'node:timers/promises';
import { rssKb, Sampler, type Usage } from '../lib/proc.js';
import { closeAll, openClients } from '../lib/raw-clients.js';
import type { Target, TargetName } from '../lib/targets.js';
import type { SimProc } from '../lib/sim.js';
import { MB, eachTarget, fmt, num, ratio, upstreamKind, warmStreams } from './common.js';
import type { RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow, Table } from './types.js';

interface Row {
  clients: number; established: number; dropped: number; completed: number; waitingDrain: number; blockedWrites: number;
  baseMb: number; settledMb: number; kbPerStream: number; openS: number; settleS: number; settled: boolean;
  heapBaseMb: number | undefined; heapMb: number | undefined; buffersBaseMb: number | undefined; buffersMb: number | undefined; committedBaseMb: number | undefined; committedMb: number | undefined; seriesMb: number[];
}

/** The service's STREAM_BUFFER_SIZE default (src/config.ts); /status settings.stream_buffer_size wins when present. */
const DEFAULT_BUFFER = 16384;
/** Bytes each slow client's stream would carry in full: far more than kernel buffers and the proxy's own can hold. */
export const STREAM_BYTES = 64 * 1024 * 1024;

const sumRss = (pids: readonly number[]): number => pids.reduce((s, p) => s + rssKb(p), 0);

/** What a run of n paused streams grew by, in KB (RSS settled − before). */
interface Growth {
  readonly established: number;
  readonly kbPerStream: number;
}

/**
 * The STREAM_BUFFER_SIZE the aim is drawn from after a target's /status said `fromStatus`: this build's (any service
 * target but a `before` build, which may run with its own, BENCH_BEFORE_SERVICE_ENV), else what it was.
 */
export function aimBuffer(buffer: number, target: TargetName, fromStatus: unknown): number {
  return typeof fromStatus === 'number' && !target.startsWith('before') ? fromStatus : buffer;
}

/**
 * KB of RSS per stream added between two runs of the same target with fresh processes (`few`, then `many`
 * established streams): what one more paused stream costs, without the costs a process pays once whatever the
 * count (its young generation growing, the allocator keeping what a burst freed). NaN without more streams.
 */
export function marginalKbPerStream(few: Growth, many: Growth): number {
  const added = many.established - few.established;
  if (added <= 0) return NaN;
  return (many.kbPerStream * many.established - few.kbPerStream * few.established) / added;
}

export const slowclient: Scenario = {
  name: 'slowclient',
  description: 'Hundreds of clients (300, then 900) each open a long stream and stop reading: proxy RSS growth per stream once settled, and per stream added from 300 to 900, 1 KB and 64 KB events, vs nginx and vs STREAM_BUFFER_SIZE + 16 KB.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const few = num(o.flags['clients'], 300);
    // a second run with more clients (fresh processes) gives the cost per added stream; 0: none
    const many = num(o.flags['marginal'], 900, true);
    const counts = many > few ? [few, many] : [few];
    const sizes = (o.flags['sizes'] ?? '1024,65536').split(',').map(Number).filter((n) => n > 0);
    const settleMax = num(o.flags['settle'], 8);
    const upstream = upstreamKind(o, 'static');
    const env: Record<string, string> = o.flags['buffer'] ? { STREAM_BUFFER_SIZE: o.flags['buffer'] } : {};
    const tables: Table[] = [];
    const summary: SummaryRow[] = [];
    const data: Record<string, unknown> = {};
    for (const size of sizes) {
      const tokens = num(o.flags['tokens'], Math.ceil(STREAM_BYTES / size));
      const model = `sim/long;tokens=${tokens};size=${size}`;
      const notes: string[] = [];
      let buffer = Number(o.flags['buffer'] ?? DEFAULT_BUFFER);
      o.log(` ${size}-byte events`);
      const measure = (clients: number) => async (t: Target, sim: SimProc): Promise<Row> => {
        await warmStreams(t.origin);
        const st0 = await t.status();
        const fromStatus = (st0?.['settings'] as Record<string, unknown> | undefined)?.['stream_buffer_size'];
        buffer = aimBuffer(buffer, t.name, fromStatus);
        const memOf = (st: Record<string, unknown> | null, key: string): number | undefined => {
          const h = (st?.['memory'] as Record<string, unknown> | undefined)?.[key];
          return typeof h === 'number' ? h : undefined;
        };
        const heapOf = (st: Record<string, unknown> | null): number | undefined => memOf(st, 'heap_used_mb');
        const buffersOf = (st: Record<string, unknown> | null): number | undefined => memOf(st, 'array_buffers_mb');
        const committedOf = (st: Record<string, unknown> | null): number | undefined => memOf(st, 'heap_total_mb');
        const st0Sim = await sim.stats();
        const base: number[] = [];
        for (let i = 0; i < 4; i++) {
          base.push(sumRss(t.pids()));
          await sleep(250);
        }
        const baseKb = base.reduce((a, b) => a + b, 0) / base.length;
        const tOpen = performance.now();
        const cs = await openClients({ origin: t.origin, n: clients, model: () => model, stopReading: true, timeoutMs: 30_000 });
        const established = cs.filter((c) => c.firstEventAt !== undefined).length;
        // Settle: every stream blocked at the upstream or gone (the upstream counts responses waiting for drain, and
        // aborts), and RSS flat for 1 s. RSS is sampled on its own timer: a busy upstream may answer its stats late.
        const t0 = performance.now();
        const openS = (t0 - tOpen) / 1000;
        const sampler = new Sampler({ proxy: () => t.pids() }).start(250);
        let settled = false, waitingDrain = 0;
        while ((performance.now() - t0) / 1000 < settleMax) {
          await sleep(250);
          const st = await Promise.race([sim.stats(), sleep(500, null)]);
          if (st) waitingDrain = st.waitingDrain;
          const rs = sampler.samples.get('proxy') ?? [];
          const k = rs.length;
          const flat = k >= 5 && (rs[k - 1] as Usage).rssKb <= 1.01 * (rs[k - 5] as Usage).rssKb;
          if (st && waitingDrain + (st.aborts - st0Sim.aborts) >= established && flat) {
            settled = true;
            break;
          }
        }
        sampler.stop();
        const series = (sampler.samples.get('proxy') ?? []).map((u) => u.rssKb);
        const last = series.slice(-3);
        const settledKb = last.reduce((a, b) => a + b, 0) / Math.max(1, last.length);
        const stEnd = await Promise.race([t.status(), sleep(3000, null)]);
        const heap = heapOf(stEnd);
        const buffers = buffersOf(stEnd);
        const st = (await Promise.race([sim.stats(), sleep(5000, null)])) ?? { ...st0Sim, aborts: NaN, completed: NaN };
        closeAll(cs);
        return {
          clients, established, dropped: st.aborts - st0Sim.aborts, completed: st.completed - st0Sim.completed, waitingDrain, blockedWrites: st.blockedWrites,
          baseMb: MB(baseKb), settledMb: MB(settledKb), kbPerStream: (settledKb - baseKb) / Math.max(1, established),
          openS, settleS: (performance.now() - t0) / 1000, settled, heapBaseMb: heapOf(st0), heapMb: heap, buffersBaseMb: buffersOf(st0), buffersMb: buffers, committedBaseMb: committedOf(st0), committedMb: committedOf(stEnd), seriesMb: series.map(MB),
        };
      };
      // each count on fresh processes: the larger run's extra streams cost what one more paused stream costs
      const runs: Array<Map<TargetName, Row>> = [];
      for (const clients of counts) {
        if (counts.length > 1) o.log(`  ${clients} clients`);
        runs.push(await eachTarget(o, runs.length === 0 ? notes : [], measure(clients), env, upstream));
      }
      const rows = runs[0]!;
      const more = runs.length > 1 ? runs[runs.length - 1]! : null;
      const marginal = new Map<TargetName, number>();
      for (const [name, r] of more ?? []) {
        const r0 = rows.get(name);
        if (r0) marginal.set(name, marginalKbPerStream(r0, r));
      }
      const aim = buffer / 1024 + 16;
      const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
      const marginalCell = (name: TargetName, r: Row): string => {
        const m = r === more?.get(name) ? marginal.get(name) : undefined;
        return m === undefined || !Number.isFinite(m) ? '' : svc(name, `${fmt(m, 1)} (${ratio(m, marginal.get('nginx'))}, ${ratio(m, aim)} aim)`);
      };
      tables.push({
        title: `slowclient — ${counts.join(', then ')} clients stop reading "${model}" (${fmt(size / 1024, 0)} KB events), ${upstream} upstream; aim ≤ STREAM_BUFFER_SIZE + 16 KB = ${fmt(aim, 0)} KB/stream`,
        columns: ['target', 'established', 'upstream cancelled', 'upstream completed', 'upstream blocked', 'opened in s', 'settled after s', 'RSS before MB', 'RSS settled MB',
          'KB/stream', 'vs nginx', 'vs aim', ...(more ? [`KB per stream added ${counts.join(' → ')} (vs nginx, vs aim)`] : []), 'main heap Δ MB', 'main heap committed Δ MB', 'main ArrayBuffers Δ MB'],
        // (each run's ratio against that run's nginx)
        rows: runs.flatMap((run) => [...run].map(([name, r]) => [name, r, run.get('nginx')] as const)).map(([name, r, runNginx]) => [
          name, `${r.established}/${r.clients}`, String(r.dropped), String(r.completed), `${r.waitingDrain}`, fmt(r.openS, 1), `${fmt(r.settleS, 1)}${r.settled ? '' : ' (not flat)'}`,
          svc(name, fmt(r.baseMb, 0)), svc(name, fmt(r.settledMb, 0)), svc(name, fmt(r.kbPerStream, 1)), svc(name, ratio(r.kbPerStream, runNginx?.kbPerStream)),
          svc(name, ratio(r.kbPerStream, aim)),
          ...(more ? [marginalCell(name, r)] : []),
          r.heapMb !== undefined && r.heapBaseMb !== undefined ? fmt(r.heapMb - r.heapBaseMb, 0) : '–',
          r.committedMb !== undefined && r.committedBaseMb !== undefined ? fmt(r.committedMb - r.committedBaseMb, 0) : '–',
          r.buffersMb !== undefined && r.buffersBaseMb !== undefined ? fmt(r.buffersMb - r.buffersBaseMb, 0) : '–',
        ]),
        notes: [...notes,
          'Each client reads the response head and the first event, then pauses its socket: kernel buffers fill, the proxy should stop reading the upstream.',
          '"upstream cancelled" = streams the proxy gave up on while the clients were stalled (uWS drops a connection whose output has not drained for ~10 s; CLIENT_STALL_TIMEOUT); "upstream completed" = streams whose whole body fitted in the buffers between (should be 0); "upstream blocked" = streams the upstream could not write to at the end.',
          `Upstream "static" (default): one prebuilt body shared by all streams, written as fast as each socket takes it; the simulator would build every stream\'s ${fmt(STREAM_BYTES / 1048576, 0)} MB up front (--upstream sim needs --tokens small enough for memory, and is too slow to fill 300 pipes before uWS drops them).`,
          `Settled = every established stream is blocked at the upstream ("upstream blocked": responses waiting for drain there) or cancelled, and RSS grew < 1 % over the last second; at most ${settleMax} s after all clients had their first event or gave up (--settle), because uWS drops a connection whose output has not drained for ~10 s. "opened in" = time until every client had its first event (or 30 s).`,
          'KB/stream = (RSS settled, mean of the last 3 samples − RSS before, mean of 4 samples after warm-up) ÷ established streams. Kernel socket buffers are not in RSS.',
          ...(more ? [`KB per stream added = (growth of the ${counts[counts.length - 1]}-client run − growth of the ${counts[0]}-client run) ÷ the extra established streams, each run on fresh processes (--marginal N; 0: no second run). It leaves out what a process pays once whatever the count (its young generation growing during the burst, allocator pages kept after the burst's garbage was freed), which KB/stream spreads over the streams of one run.`] : []),
          '"main heap Δ" = /status memory.heap_used_mb after − before (the main thread\'s JS heap only; "committed": memory.heap_total_mb, what the heap holds in RSS; the rest of the growth is outside it or in workers); "main ArrayBuffers Δ" = the same for memory.array_buffers_mb (Buffers: socket reads, held events, queued bytes; what remains is uWS\'s native buffers, allocator slack and workers).',
          ...[...rows].filter(([n]) => n !== 'direct').map(([n, r]) => `${n} RSS MB every 250 ms: ${r.seriesMb.map((v) => fmt(v, 0)).join(' ')}`)],
      });
      data[String(size)] = Object.fromEntries(rows);
      if (more) data[`${size}@${counts[counts.length - 1]}`] = { ...Object.fromEntries(more), marginalKbPerStream: Object.fromEntries(marginal) };
      const cells: SummaryRow['cells'] = Object.fromEntries([...rows].filter(([n]) => n !== 'direct')
        .map(([n, r]): [TargetName, SummaryCell] => [n, { value: r.kbPerStream, text: `${fmt(r.kbPerStream, 1)} KB` }]));
      const def = rows.get('default');
      summary.push({
        order: 90 + sizes.indexOf(size), label: `${few} clients not reading, ${fmt(size / 1024, 0)} KB events: RSS per stream`, ratio: true, cells,
        goal: `≤ ${fmt(aim, 0)} KB (STREAM_BUFFER_SIZE + 16 KB)`, met: def ? def.kbPerStream <= aim : undefined,
      });
      const defMarginal = marginal.get('default');
      if (more && marginal.size > 0) {
        summary.push({
          order: 92 + sizes.indexOf(size), label: `${fmt(size / 1024, 0)} KB events: RSS per paused stream added, ${counts.join(' → ')} clients`, ratio: true,
          cells: Object.fromEntries([...marginal].filter(([n, m]) => n !== 'direct' && Number.isFinite(m)).map(([n, m]): [TargetName, SummaryCell] => [n, { value: m, text: `${fmt(m, 1)} KB` }])),
          goal: `≤ ${fmt(aim, 0)} KB (STREAM_BUFFER_SIZE + 16 KB)`, met: defMarginal !== undefined && Number.isFinite(defMarginal) ? defMarginal <= aim : undefined,
        });
      }
    }
    return { name: 'slowclient', description: this.description, tables, bars: [], summary, data };
  },
};
