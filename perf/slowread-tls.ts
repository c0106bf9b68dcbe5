// Clients slower than their streams, on a TLS mirror: the service's RSS growth while each client reads one chunk every 200 ms.
//
// The bench's upstreams are plain HTTP; DeepInfra is TLS, whose sockets read whatever TLS decrypted from one network
// read, so a socket that asked for more at every resume grew without bound (test/flow-held.test.ts). This runs an
// endless stream of ~1 KB events from a TLS server in this process (the throwaway certificate of test/fixtures/),
// the service inline in front of it, and N raw clients that each read one chunk, then nothing for 200 ms.
// `node dist/perf/slowread-tls.js [--before DIR] [--clients N] [--seconds S] [--pairs N] [--plain]` after `npm run build`.
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { startTarget, type TargetName } from './lib/targets.js';
import type { SimProc } from './lib/sim.js';
import { rssKb } from './lib/proc.js';
import { killAll } from './lib/children.js';
import { startEndless } from './lib/endless.js';
import { request } from './lib/raw-clients.js';

const { values: o } = parseArgs({
  options: {
    before: { type: 'string' }, clients: { type: 'string', default: '50' }, seconds: { type: 'string', default: '15' },
    pairs: { type: 'string', default: '3' }, plain: { type: 'boolean', default: false },
  },
});

/** The upstream as the bench's targets expect one (only its addresses are used). */
function asSim(port: number, secure: boolean): SimProc {
  const origin = `${secure ? 'https' : 'http'}://127.0.0.1:${port}`;
  const none = (): Promise<never> => Promise.reject(new Error('not a simulator'));
  return { kind: 'static', pid: process.pid, port, origin, baseUrl: `${origin}/v1`, stats: none, reset: none, aborts: none, close: async () => undefined };
}

/** MB of RSS growth at 5 s steps while the clients read slowly. */
async function once1(name: TargetName, sim: SimProc): Promise<number[]> {
  // the service must accept the throwaway certificate: in its own process only
  const t = await startTarget(name, sim, { POOL_SIZE: '0', NODE_TLS_REJECT_UNAUTHORIZED: '0', STREAM_TIMEOUT: '600' }, { beforeDir: o.before });
  const socks: Socket[] = [];
  try {
    const pid = t.mainPid!;
    const base = rssKb(pid);
    const u = new URL(t.origin);
    for (let i = 0; i < Number(o.clients); i++) {
      const s = connect(Number(u.port), u.hostname);
      socks.push(s);
      s.on('error', () => undefined);
      s.write(request(u, 'm'));
      s.on('data', () => {
        s.pause();
        setTimeout(() => s.resume(), 200);
      });
    }
    const growth: number[] = [];
    for (let sec = 5; sec <= Number(o.seconds); sec += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      growth.push((rssKb(pid) - base) / 1024);
    }
    return growth;
  } finally {
    for (const s of socks) s.destroy();
    await t.close();
  }
}

async function main(): Promise<void> {
  const secure = !o.plain;
  const up = await startEndless(secure);
  const sim = asSim(up.port, secure);
  const names: TargetName[] = o.before ? ['before', 'default'] : ['default'];
  console.log(`${o.clients!} clients reading one chunk every 200 ms from an endless ${secure ? 'TLS' : 'plain'} mirror; service RSS growth, MB, every 5 s`);
  try {
    for (let p = 1; p <= Number(o.pairs); p++) {
      for (const name of names) {
        const g = await once1(name, sim);
        console.log(`| ${p} | ${name === 'before' ? `before (${o.before!})` : 'this build'} | ${g.map((x) => x.toFixed(0)).join(' | ')} |`);
      }
    }
  } finally {
    up.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  killAll();
  process.exitCode = 1;
});
