// The rolling windows behind /status: time-limited percentiles and per-second rate buckets (fake clock).
import t from 'tap';
import { Counters, RateBuckets, Window, outcomeOf, type Finished, type Outcome } from '../src/counters.js';

void t.test('Window: nearest-rank percentiles, ring overwrite, age limit', async (t) => {
  let now = 0;
  const w = new Window(4, () => now);
  t.same(w.percentiles([0.5, 0.99]), [null, null], 'empty');
  for (const v of [10, 20, 30, 40]) w.add(v);
  t.same(w.percentiles([0.25, 0.5, 0.75, 0.99]), [10, 20, 30, 40]);
  now = 5000;
  w.add(50); // overwrites 10
  t.equal(w.count, 4);
  t.same(w.percentiles([0.01, 1]), [20, 50]);
  t.same(w.percentiles([0.01, 1], 1000), [50, 50], 'only the sample younger than 1 s');
  now = 7000;
  t.same(w.percentiles([0.5], 1000), [null], 'nothing young enough');
});

void t.test('RateBuckets: sums over the last seconds, stale slots cleared on reuse', async (t) => {
  let now = 1_000_000; // ms, on a whole second
  const r = new RateBuckets(10, () => now);
  const add = (o: Outcome, n = 1): void => { for (let i = 0; i < n; i++) r.add(o); };
  add('ok', 5);
  add('upstream_error', 2);
  add('shed');
  now += 3000;
  add('stream_error');
  add('client_abort', 2);
  now += 500;
  let s = r.sums(10);
  t.same([s.requests, s.serverErrors, s.shed, s.clientAborts], [11, 3, 1, 2]);
  t.equal(s.seconds, 3.5, 'covers only the time since start');
  s = r.sums(2);
  t.same([s.requests, s.serverErrors], [3, 1], 'the last 2 s hold the second batch only');
  t.equal(s.seconds, 1.5, 'one whole second and half of the current one');
  now += 10_000; // every slot is now older than the window; the first batch's slot comes round again
  add('ok');
  s = r.sums(10);
  t.same([s.requests, s.serverErrors, s.shed], [1, 0, 0], 'old counts do not leak into a reused slot');
});

void t.test('Counters.record: each outcome lands in the right figures, listeners hear it once', async (t) => {
  const c = new Counters();
  const heard: Finished[] = [];
  c.listeners.push((f) => heard.push(f));
  const base = { route: '/v1/chat/completions', code: null, durationMs: 5, ttfbMs: 2, stream: false, events: 0, bytes: 10, malformed: 0, mirror: 0, model: 'm', usage: null };
  const outcomes: Array<[Outcome, number]> = [
    ['ok', 200], ['client_error', 400], ['shed', 503], ['upstream_error', 502], ['stream_error', 200], ['cut', 200], ['client_abort', 499], ['client_stall', 200],
  ];
  for (const [outcome, status] of outcomes) c.record({ ...base, outcome, status });
  t.equal(c.totalRequests, 8);
  t.equal(c.errorCount, 2, 'error_count is the server errors: upstream_error and stream_error only');
  t.equal(c.clientAborts, 1);
  t.equal(c.upstreamAborts, 1, 'upstream aborts: streams broken after their first byte, not cuts, stalls or client aborts');
  t.equal(c.bytesRelayed, 80);
  t.equal(c.duration.count, 1, 'latency windows take successful requests only');
  t.equal(heard.length, 8);
  t.same(Object.fromEntries(c.byOutcome), Object.fromEntries(outcomes.map(([o]) => [o, 1])), 'each outcome counted once under its name');
  const s = c.rates.sums(60);
  t.same([s.requests, s.serverErrors, s.shed, s.clientAborts], [8, 2, 1, 1]);
});

void t.test('outcomeOf: one name per way a request ends', async (t) => {
  t.equal(outcomeOf(200, null, true), 'ok');
  t.equal(outcomeOf(404, null, false), 'client_error', 'a relayed upstream 4xx');
  t.equal(outcomeOf(503, null, false), 'upstream_error', 'a relayed upstream 5xx');
  t.equal(outcomeOf(400, 'invalid_json', false), 'client_error');
  t.equal(outcomeOf(502, 'upstream_unreachable', false), 'upstream_error');
  t.equal(outcomeOf(200, 'upstream_reset', true), 'stream_error');
  t.equal(outcomeOf(200, 'worker_crashed', true), 'stream_error', 'a worker dying mid-stream is a server error');
  for (const code of ['stream_timeout', 'max_connection_time', 'shutdown']) {
    t.equal(outcomeOf(200, code, true), 'cut', `${code} after the first byte is a cut`);
    t.equal(outcomeOf(504, code, false), 'cut', `${code} before it too`);
  }
  t.equal(outcomeOf(200, 'client_stall', true), 'client_stall', 'a stalled client is not a server error');
});
