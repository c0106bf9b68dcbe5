// Scenario leave: 1000 clients with open streams disconnect at once; time until the upstream sees each request cancelled (p50/p99), and that every one is.
import { setTimeout as sleep } from 'node:timers/promises';
import { Hist } from '../lib/hist.js';
import { closeAll, leaveAll, openClients } from '../lib/raw-clients.js';
import { monoNow } from '../lib/clock.js';
import type { AbortRecord } from '../lib/sim-child.js';
import type { TargetName } from '../lib/targets.js';
import { eachTarget, fmt, num, warmStreams } from './common.js';
import type { RunOptions, Scenario, ScenarioResult, SummaryCell, SummaryRow } from './types.js';

interface Row {
  clients: number; established: number; left: number; cancelled: number; missing: number; late: number;
  p50: number; p99: number; max: number; spreadMs: number; freedMs: number | undefined;
}

const ID_RE = /;id=(\d+)/;

export const leave: Scenario = {
  name: 'leave',
  description: '1000 clients with open streams disconnect at once: time from each disconnect to the upstream seeing that request cancelled, p50/p99; every upstream request must be cancelled (CONTRACT §5: p99 < 1 s).',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const clients = num(o.flags['clients'], 1000);
    const waitS = num(o.flags['wait'], 10);
    const interval = 1000;
    // Long enough to outlast opening + the wait (the simulator builds every token string up front, so not 100000).
    const model = (i: number): string => `sim/echo;tokens=600;interval=${interval};id=${i}`;
    const notes: string[] = [];
    const rows = await eachTarget(o, notes, async (t, sim): Promise<Row> => {
      await warmStreams(t.origin);
      const cs = await openClients({ origin: t.origin, n: clients, model, stopReading: false, timeoutMs: 60_000 });
      await sleep(500);
      await sim.aborts(); // forget anything before the leave
      const open = cs.filter((c) => c.firstEventAt !== undefined && c.closedAt === undefined);
      const leftAt = leaveAll(open);
      const loopMs = monoNow() - leftAt;
      const want = new Map(open.map((c) => [c.id, c.leftAt as number]));
      const seen = new Map<number, AbortRecord>();
      let freedMs: number | undefined;
      const deadline = performance.now() + waitS * 1000;
      while (performance.now() < deadline && (seen.size < want.size || (t.mainPid !== undefined && freedMs === undefined))) {
        await sleep(100);
        for (const a of await sim.aborts()) {
          const id = Number(ID_RE.exec(a.model)?.[1] ?? NaN);
          if (want.has(id) && !seen.has(id)) seen.set(id, a);
        }
        if (t.mainPid !== undefined && freedMs === undefined) {
          const st = await t.status();
          if (st?.['current_connections'] === 0) freedMs = monoNow() - leftAt;
        }
      }
      closeAll(cs);
      const h = new Hist();
      for (const [id, a] of seen) h.record(Math.max(0, a.at - (want.get(id) as number)));
      const s = h.summary();
      return {
        clients, established: open.length, left: want.size, cancelled: seen.size, missing: want.size - seen.size,
        late: [...seen].filter(([id, a]) => a.at - (want.get(id) as number) > 1000).length,
        p50: s.p50, p99: s.p99, max: s.max, spreadMs: loopMs, freedMs,
      };
    });
    const table = {
      title: `leave — ${clients} clients each holding a stream ("sim/echo;tokens=600;interval=${interval};id=N", simulator upstream) disconnect at once`,
      columns: ['target', 'established', 'left', 'upstream cancelled', 'missing', 'cancel p50 ms', 'cancel p99 ms', 'max ms', '> 1 s', 'disconnect loop ms', 'slots free after ms'],
      rows: [...rows].map(([name, r]) => [
        name, `${r.established}/${r.clients}`, String(r.left), String(r.cancelled), String(r.missing),
        fmt(r.p50), fmt(r.p99), fmt(r.max), String(r.late), fmt(r.spreadMs), r.freedMs === undefined ? '–' : fmt(r.freedMs, 0),
      ]),
      notes: [...notes,
        'Clients are raw sockets in the bench process; each waits for its first event, then all are destroyed in one loop ("disconnect loop ms" = how long that loop took).',
        'Cancel time = the simulator\'s abort timestamp for that request (matched by the id in its model name; the system\'s monotonic clock, shared by both processes) − the moment that client\'s socket was destroyed.',
        `"missing" = requests the upstream had not seen cancelled ${waitS} s after the disconnect (--wait). "slots free after" = first /status with current_connections 0 (service only, polled every 100 ms).`,
        'direct = the simulator itself noticing its own clients leave: the floor of this measurement.'],
    };
    const cells: SummaryRow['cells'] = Object.fromEntries([...rows].filter(([n]) => n !== 'direct')
      .map(([n, r]): [TargetName, SummaryCell] => [n, { value: r.p99, text: `p99 ${fmt(r.p99)} ms, ${r.cancelled}/${r.left} cancelled` }]));
    const def = rows.get('default');
    const summary: SummaryRow[] = [{
      order: 100, label: `${clients} clients leave at once: upstream cancelled within (p99), how many`, ratio: false, cells,
      goal: 'p99 < 1 s, all cancelled', met: def ? def.p99 < 1000 && def.missing === 0 && def.left === def.clients : undefined,
    }];
    return { name: 'leave', description: this.description, tables: [table], bars: [], summary, data: Object.fromEntries(rows) };
  },
};
