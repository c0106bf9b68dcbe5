// Scenario slowread (was slowclient): one client reads a large stream at a fixed slow rate; proxy RSS over time and upstream backpressure.
import { setTimeout as sleep } from 'node:timers/promises';
import { Sampler } from '../lib/proc.js';
import { slowRead } from '../lib/slow-reader.js';
import { MB, eachTarget, fmt, num, warmStreams } from './common.js';
import type { RunOptions, Scenario, ScenarioResult } from './types.js';

interface Row {
  readKb: number; clientEvents: number; simEvents: number; heldMb: number; blockedWrites: number;
  rssStartMb: number; rssMaxMb: number; rssMidMb: number; rssEndMb: number; rssSeriesMb: number[]; status: number; endedEarly: boolean;
}

export const slowread: Scenario = {
  name: 'slowread',
  description: 'A client reading a large stream slowly: proxy RSS must stay flat and backpressure must reach the upstream.',
  inDefault: false,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const duration = o.duration ?? 12;
    const rateKb = num(o.flags['rate'], 64);
    const tokens = num(o.flags['tokens'], 20000);
    const model = `sim/long;tokens=${tokens}`;
    const notes: string[] = [];
    const rows = await eachTarget(o, notes, async (t, sim): Promise<Row> => {
      await warmStreams(t.origin);
      const sampler = new Sampler({ proxy: () => t.pids() }).start(1000);
      const r = await slowRead(t.origin, model, rateKb * 1024, duration);
      sampler.stop();
      await sleep(500);
      const st = await sim.stats();
      const rss = (sampler.samples.get('proxy') ?? []).map((u) => MB(u.rssKb));
      const eventBytes = r.events > 0 ? r.bytes / r.events : 1100;
      return {
        readKb: r.bytes / 1024, clientEvents: r.events, simEvents: st.lastAbortEvents,
        heldMb: ((st.lastAbortEvents - r.events) * eventBytes) / 1048576, blockedWrites: st.blockedWrites,
        rssStartMb: rss[0] ?? NaN, rssMaxMb: Math.max(...rss), rssMidMb: rss[Math.floor(rss.length / 2)] ?? NaN, rssEndMb: rss[rss.length - 1] ?? NaN, rssSeriesMb: rss,
        status: r.status, endedEarly: r.endedEarly,
      };
    });
    const svc = (name: string, v: string): string => (name === 'direct' ? '–' : v);
    const series = [...rows].filter(([n]) => n !== 'direct').map(([n, r]) => `${n} RSS MB each second: ${r.rssSeriesMb.map((v) => fmt(v, 0)).join(' ')}`);
    const table = {
      title: `slowread — "${model}" (~${fmt((tokens * 1.2) / 1024, 0)} MB) read at ${rateKb} KB/s for ${duration} s`,
      columns: ['target', 'status', 'client read KB', 'upstream wrote events', 'held between MB', 'sim blocked writes',
        'proxy RSS start MB', 'max MB', 'end MB', 'growth MB', '2nd half Δ MB'],
      rows: [...rows].map(([name, r]) => [
        name, r.endedEarly ? `${r.status} (ended early)` : String(r.status), fmt(r.readKb, 0), String(r.simEvents), fmt(r.heldMb, 1),
        String(r.blockedWrites), svc(name, fmt(r.rssStartMb, 0)), svc(name, fmt(r.rssMaxMb, 0)), svc(name, fmt(r.rssEndMb, 0)),
        svc(name, fmt(r.rssMaxMb - r.rssStartMb, 1)), svc(name, fmt(r.rssEndMb - r.rssMidMb, 1)),
      ]),
      notes: [...notes,
        '"upstream wrote events": events the simulator had written when the client hung up; "held between" = those not yet read by the client (kernel socket buffers plus anything the proxy holds).',
        'RSS is sampled every second from before the request until the client hangs up; "2nd half Δ" = last sample − middle sample (flat ≈ 0).',
        'sim blocked writes > 0 means res.write() returned false in the simulator: backpressure reached the upstream.',
        ...series],
    };
    return { name: 'slowread', description: this.description, tables: [table], bars: [], data: Object.fromEntries(rows) };
  },
};
