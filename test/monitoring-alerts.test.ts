// Alerts: threshold, hysteresis and one log line per transition (unit), then the guide's rules end to end.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log.js';
import { Alerts, CLEAR_RATIO, ERROR_MIN_SAMPLES, errorRate, type AlertRule, type AlertTransition } from '../src/monitoring/alerts.js';
import { startStack, idle, chat, type Stack } from './helpers/harness.js';

function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('info', sink), lines };
}

void t.test('Alerts: fires above the threshold, logs once, holds until under threshold × CLEAR_RATIO', async (t) => {
  const { log, lines } = capture();
  let value: number | null = 0.5;
  let now = Date.parse('2030-01-01T00:00:00Z');
  const rule: AlertRule = { name: 'x', severity: 'critical', threshold: 0.6, description: 'x high', read: () => value };
  const seen: AlertTransition[] = [];
  const a = new Alerts([rule], log, (tr) => seen.push(tr), () => now);

  t.same(a.evaluate(), [], 'under the threshold: nothing');
  value = 0.6;
  t.same(a.evaluate(), [], 'at the threshold: nothing (it must be above)');
  value = 0.75;
  now += 1000;
  t.same(a.evaluate().map((x) => x.state), ['firing']);
  t.same(a.list(), [{ name: 'x', severity: 'critical', value: 0.75, threshold: 0.6, since: new Date(now).toISOString() }]);
  const since = now;
  for (const v of [0.9, 0.61, 0.6, 0.6 * CLEAR_RATIO + 0.001]) {
    value = v;
    now += 1000;
    t.same(a.evaluate(), [], `still firing at ${v}`);
  }
  t.equal(a.list()[0]?.since, new Date(since).toISOString(), 'since stays at the start');
  value = 0.6 * CLEAR_RATIO;
  now += 5000;
  t.same(a.evaluate().map((x) => x.state), ['resolved']);
  t.same(a.list(), []);
  value = 0.9;
  t.same(a.evaluate().map((x) => x.state), ['firing'], 'fires again');
  value = null;
  t.same(a.evaluate().map((x) => [x.state, x.value]), [['resolved', null]], 'no data clears it');
  log.flush();
  const mine = lines.filter((l) => l['alert'] === 'x');
  t.same(mine.map((l) => [l['level'], String(l['msg']).split(':')[0]]), [
    ['error', 'alert firing'], ['info', 'alert resolved'], ['error', 'alert firing'], ['info', 'alert resolved'],
  ], 'one line per transition: critical as error, resolution as info');
  t.equal(mine[1]?.['duration_s'], 9);
  t.equal(seen.length, 4, 'every transition reported');
});

void t.test('Alerts: a warning logs at warn; threshold 0 fires on any value and clears at 0', async (t) => {
  const { log, lines } = capture();
  let value = 0;
  const a = new Alerts([{ name: 'w', severity: 'warning', threshold: 0, description: 'w', read: () => value }], log);
  t.same(a.evaluate(), []);
  value = 0.01;
  t.equal(a.evaluate()[0]?.state, 'firing');
  value = 0;
  t.equal(a.evaluate()[0]?.state, 'resolved');
  log.flush();
  t.same(lines.map((l) => l['level']), ['warn', 'info']);
});

async function send(s: Stack, model: string, n: number): Promise<number> {
  const r = await Promise.allSettled(Array.from({ length: n }, () => s.client.chat.completions.create(chat(model) as never)));
  return r.filter((x) => x.status === 'rejected').length;
}

void t.test('error rate: 1 failure of 2 requests does not page (minimum sample)', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000' });
  t.equal(await send(s, 'sim/error500', 1), 1);
  t.equal(await send(s, 'sim/echo', 1), 0);
  await idle(s.service);
  t.equal(errorRate(s.service.state), null, 'under the minimum sample the rate is not judged');
  t.equal(errorRate(s.service.state, 60, 2), 0.5, 'the same window with a minimum of 2 reads 50 %');
  t.same(s.service.monitor.tick(), [], 'no transition');
  t.notOk(s.logs.some((l) => l['alert'] !== undefined), 'nothing logged');
});

void t.test('error rate over the threshold and back: the timer raises and clears it, one log line each', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000', ALERT_ERROR_RATE: '0.3' });
  const firing = s.service.monitor.transitions.next((a) => a.name === 'error_rate' && a.state === 'firing');
  const bad = ERROR_MIN_SAMPLES;
  t.equal(await send(s, 'sim/error500', bad), bad);
  t.equal(await send(s, 'sim/echo', bad), 0);
  const f = await firing;
  t.equal(f.severity, 'critical');
  t.ok(f.value! >= 0.5, 'fired with the rate it saw (a tick may fall between the two batches)');
  t.equal(f.threshold, 0.3);
  s.service.monitor.tick(); // one evaluation after both batches: the value /status shows is 10 of 20
  const st = (await (await fetch(`${s.origin}/status`)).json()) as { alerts: Array<{ name: string; severity: string; value: number }> };
  t.same(st.alerts.map((a) => [a.name, a.severity, a.value]), [['error_rate', 'critical', 0.5]]);

  // dilute to 10 of 50 = 20 %, under 0.3 × CLEAR_RATIO
  const resolved = s.service.monitor.transitions.next((a) => a.name === 'error_rate' && a.state === 'resolved');
  t.equal(await send(s, 'sim/echo', 3 * bad), 0);
  const r = await resolved;
  t.ok(r.value! <= 0.3 * CLEAR_RATIO && r.value! >= 0.2, 'cleared under threshold × CLEAR_RATIO');
  // two more evaluations: still exactly one line per transition
  const m = s.service.monitor;
  for (let i = 0; i < 2; i++) await new Promise<void>((done) => { const off = m.subscribe(() => { off(); done(); }); });
  const lines = s.logs.filter((l) => l['alert'] === 'error_rate');
  t.same(lines.map((l) => l['level']), ['error', 'info'], 'firing logged as error once, resolution as info once');
  t.match(String(lines[0]?.['msg']), /alert firing: error rate/);
  t.equal(lines[0]?.['value'], f.value);
});

void t.test('memory alert from ALERT_MEMORY; the monitor stops with the service', async (t) => {
  const s = await startStack(t, { ALERT_MEMORY: '0.001' });
  // the first evaluation runs as the service starts, with memory already sampled: it may have fired already
  const firing = (): boolean => s.service.monitor.alerts.list().some((x) => x.name === 'memory');
  if (!firing()) await s.service.monitor.transitions.next((x) => x.name === 'memory' && x.state === 'firing');
  const [a] = s.service.monitor.alerts.list();
  t.equal(a?.name, 'memory');
  t.equal(a?.severity, 'warning');
  t.ok(a!.value > 0.001);
  t.same(s.logs.filter((l) => l['alert'] === 'memory').map((l) => l['level']), ['warn'], 'logged once, as a warning');
  const st = (await (await fetch(`${s.origin}/status`)).json()) as { alerts: Array<{ name: string; threshold: number }> };
  t.same(st.alerts.map((x) => [x.name, x.threshold]), [['memory', 0.001]]);
  const m = s.service.monitor;
  t.ok(m.running, 'the evaluation timer runs');
  const stopped = new Promise<void>((done) => m.subscribe(() => m.stopped && done()));
  await s.service.shutdown(0);
  await stopped;
  t.notOk(m.running, 'the timer is gone after shutdown');
});
