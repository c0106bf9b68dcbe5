// Scenario nonstream: non-stream requests/s at fixed concurrency (autocannon), proxy and simulator CPU-µs per request.
import { runCannon } from '../lib/cannon.js';
import { usage } from '../lib/proc.js';
import { CHAT_PATH, MB, eachTarget, fmt, num, ratio } from './common.js';
import type { Bar, RunOptions, Scenario, ScenarioResult } from './types.js';

interface Row {
  rps: number; p50: number; p99: number; requests: number; bad: number;
  proxyUs: number; simUs: number; genUs: number; rssMb: number;
}

export const nonstream: Scenario = {
  name: 'nonstream',
  description: 'Non-stream chat requests/s at fixed concurrency (autocannon, pipelining 1) and CPU-µs per request.',
  inDefault: true,
  async run(o: RunOptions): Promise<ScenarioResult> {
    const duration = o.duration ?? 10;
    const connections = num(o.flags['connections'], 64);
    const warmup = num(o.flags['warmup'], 3);
    const model = o.flags['model'] ?? 'sim/echo;tokens=8';
    const body = JSON.stringify({ model, stream: false, messages: [{ role: 'user', content: 'Hello there.' }] });
    const notes: string[] = [];
    const rows = await eachTarget(o, notes, async (t, sim): Promise<Row> => {
      const url = t.origin + CHAT_PATH;
      await runCannon({ url, body, connections, duration: warmup });
      const b = usage(t.pids()), bs = usage([sim.pid]), bg = process.cpuUsage();
      const r = await runCannon({ url, body, connections, duration });
      const a = usage(t.pids()), as = usage([sim.pid]), ag = process.cpuUsage(bg);
      const n = Math.max(1, r.requests);
      return {
        rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, bad: r.non2xx + r.errors,
        proxyUs: ((a.cpuMs - b.cpuMs) * 1000) / n,
        simUs: ((as.cpuMs - bs.cpuMs) * 1000) / n,
        genUs: (ag.user + ag.system) / n,
        rssMb: MB(a.rssKb),
      };
    });
    const direct = rows.get('direct');
    const nginx = rows.get('nginx');
    const table = {
      title: `nonstream — ${connections} connections, ${duration} s, model "${model}"`,
      columns: ['target', 'req/s', 'vs direct', 'p50 ms', 'p99 ms', 'proxy CPU µs/req', 'vs nginx', 'sim CPU µs/req', 'loadgen CPU µs/req', 'non-2xx+errors', 'proxy RSS MB'],
      rows: [...rows].map(([name, r]) => [
        name, fmt(r.rps, 0), ratio(r.rps, direct?.rps), fmt(r.p50), fmt(r.p99),
        name === 'direct' ? '0' : fmt(r.proxyUs), name === 'direct' ? '–' : ratio(r.proxyUs, nginx?.proxyUs),
        fmt(r.simUs), fmt(r.genUs), String(r.bad), name === 'direct' ? '–' : fmt(r.rssMb, 0),
      ]),
      notes: [...notes, 'CPU = utime+stime from /proc/<pid>/stat (all threads; nginx: master + workers) over the measured run ÷ responses.'],
    };
    const bars: Bar[] = [...rows].filter(([n]) => n !== 'direct').map(([target, r]) => ({ group: 'nonstream: proxy CPU µs per request', target, value: r.proxyUs }));
    return { name: 'nonstream', description: this.description, tables: [table], bars, data: Object.fromEntries(rows) };
  },
};
