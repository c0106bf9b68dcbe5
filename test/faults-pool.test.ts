// Issue 12 §5 (metrics after a worker restart; replacement workers): over a real pool of two workers, the upstream
// attempt counter is the instance's true count and never drops or jumps when a worker is replaced, and a
// replacement gets no stream before it is ready: every request during the restart is served or cleanly refused.
import t, { type Test } from 'tap';
import { startStack, within, type Stack } from './helpers/harness.js';
import { healthy, startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';
import { call } from './helpers/sdk.js';
import { scrape, status } from './helpers/observe.js';

/** `n` calls held at the upstream until all arrived (so the pool spreads them), then answered. */
async function heldRound(t: Test, s: Stack, up: ScriptedUpstream, n: number, tag: string): Promise<void> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  up.script = (req) => ({ ...healthy(req), headersAfter: gate });
  let arrived = 0;
  const all = new Promise<void>((resolve) => {
    const on = (): void => {
      if (++arrived < n) return;
      up.off('request', on);
      resolve();
    };
    up.on('request', on);
  });
  const calls = Array.from({ length: n }, (_, i) => call(s.client, `acme/${tag}-${i}`));
  await within(all, 5000, `${tag}: ${n} requests reaching the upstream`);
  const busy = s.service.state.pool.stats().busy;
  t.ok(busy.every((b) => b >= 1), `${tag}: the requests are on every worker (${busy.join(', ')})`);
  open();
  for (const r of await Promise.all(calls)) t.equal(r.status, 200, `${tag}: served`);
}

/** Resolves once every worker serves (checked after each monitor tick). */
function allServing(s: Stack): Promise<void> {
  const pool = s.service.state.pool;
  return new Promise((resolve) => {
    if (pool.stats().serving === pool.stats().size) return resolve();
    const off = s.service.monitor.subscribe(() => {
      if (pool.stats().serving !== pool.stats().size) return;
      off();
      resolve();
    });
  });
}

t.test('deepinfra_upstream_attempts_total across a worker restart: the true count at every scrape, never down, never a jump', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await startStack(t, { POOL_SIZE: '2', MAX_RETRIES: '0' }, { mirrors: up.url });
  const attempts = async (tag: string): Promise<number> => {
    const m = await scrape(s);
    const v = m.sum('deepinfra_upstream_attempts_total', { mirror: '0' });
    t.equal(v, up.requests.length, `${tag}: deepinfra_upstream_attempts_total (${v}) is the upstream's count (${up.requests.length})`);
    const st = await status(s);
    t.equal(st.mirrors[0]?.attempts, up.requests.length, `${tag}: /status mirrors[0].attempts (${st.mirrors[0]?.attempts})`);
    return v;
  };

  await heldRound(t, s, up, 4, 'before');
  const a1 = await attempts('before the restart');

  await s.service.state.pool.killWorker(0);
  up.script = (req) => healthy(req);
  for (let i = 0; i < 3; i++) t.equal((await call(s.client, `acme/during-${i}`)).status, 200, `during the restart #${i}: served`);
  const a2 = await attempts('right after the kill');
  t.ok(a2 >= a1, 'it never decreases');

  await within(allServing(s), 10_000, 'the replacement worker serving');
  await heldRound(t, s, up, 4, 'after');
  const a3 = await attempts('after the replacement served');
  t.equal(a3 - a2, 4, 'it rose by exactly the 4 new attempts');
  const m = await scrape(s);
  t.equal(m.sum('deepinfra_worker_restarts_total'), 1, 'deepinfra_worker_restarts_total: 1');
});

t.test('a killed worker: requests during its restart never go to the replacement before it is ready; every one is served or refused cleanly', async (t) => {
  const up = await startScriptedUpstream(t, (req) => ({ ...healthy(req), headersAfter: 20 })); // an upstream that takes 20 ms to answer
  const s = await startStack(t, { POOL_SIZE: '2', MAX_RETRIES: '0' }, { mirrors: up.url });
  const pool = s.service.state.pool;
  // which channel each new stream is given, and whether its worker was serving at that moment
  const opened: Array<{ index: number | null; serving: boolean | null }> = [];
  const open = pool.open.bind(pool);
  pool.open = (msg, events) => {
    const ch = open(msg, events);
    opened.push({ index: ch?.index ?? null, serving: ch ? ch.serving : null });
    return ch;
  };
  const replacementReady = (): boolean => pool.stats().serving === 2;

  await pool.killWorker(0);
  t.equal(pool.stats().serving, 1, 'right after the kill one worker serves');
  const results: Array<{ status: number; code: string | null }> = [];
  // two clients keep requests going until the replacement is ready, and a few more after
  let extra = 4;
  const client = async (k: number): Promise<void> => {
    for (let i = 0; extra > 0 && i < 200; i++) {
      if (replacementReady()) extra--;
      const r = await within(call(s.client, `acme/restart-${k}-${i}`, { stream: i % 2 === 0 }), 10_000, `request ${k}/${i} during the restart`);
      results.push({ status: r.status, code: r.code });
    }
  };
  await within(Promise.all([client(0), client(1)]), 30_000, 'the requests around the restart');
  t.ok(replacementReady(), 'the replacement is serving now (within 400 requests)');
  t.ok(results.length >= 6, `${results.length} requests around the restart`);
  const bad = results.filter((r) => !(r.status === 200 || (r.status === 502 && r.code === 'worker_crashed')));
  t.same(bad, [], 'each one is served, or gets a clean 502 worker_crashed');
  t.same(opened.filter((o) => o.serving !== true), [], 'every stream was given to a worker that was serving at that moment');
  t.ok(opened.some((o) => o.index === 0), 'and the replacement took streams once it was ready');
  const st = await status(s);
  t.equal(st.pool.restarts, 1, '/status: one restart');
});
