// /status under load: the guide's six fields and the added ones add up; current_connections returns to 0; STATUS_TOKEN.
import t from 'tap';
import type OpenAI from 'openai';
import { startStack, idle, chat, type Stack } from './helpers/harness.js';

type Doc = Record<string, unknown> & {
  current_connections: number; max_connections: number; memory_usage_mb: number; memory_limit_mb: number;
  total_requests: number; error_count: number; server_errors: number; shed_count: number; client_aborts: number;
  upstream_aborts: number; queue_length: number; connection_use: number; memory_use: number; uptime_s: number;
  outcomes: Record<string, number>;
  rates: Record<string, { window_s: number; requests_per_s: number; errors_per_s: number; error_rate: number | null }>;
  response_time_ms: Record<'p50' | 'p95' | 'p99', number | null>;
  ttfb_ms: Record<'p50' | 'p95' | 'p99', number | null>;
  pool: { size: number; busy: number; restarts: number; busy_per_worker: number[] };
  mirrors: Array<{ index: number; host: string; circuit: string; latency_ms: number | null; attempts: number; failures: number }>;
  alerts: Array<{ name: string; severity: string; value: number; threshold: number; since: string }>;
};

async function status(s: Stack, headers: Record<string, string> = {}): Promise<Doc> {
  const r = await fetch(`${s.origin}/status`, { headers });
  if (r.status !== 200) throw new Error(`/status answered ${r.status}`);
  return (await r.json()) as Doc;
}

/** Starts `n` streams that the simulator holds open after a few events; resolves once each has its first chunk. */
async function holdStreams(client: OpenAI, n: number): Promise<{ close(): void; done: Promise<unknown> }> {
  const controllers: AbortController[] = [];
  const firsts: Array<Promise<void>> = [];
  const ends: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const ac = new AbortController();
    controllers.push(ac);
    let first!: () => void;
    firsts.push(new Promise<void>((r) => (first = r)));
    ends.push(
      (async () => {
        const stream = await client.chat.completions.create({ ...chat('sim/stall'), stream: true } as never, { signal: ac.signal });
        for await (const _ of stream as unknown as AsyncIterable<unknown>) first();
      })().catch(() => undefined),
    );
  }
  await Promise.all(firsts);
  return { close: () => controllers.forEach((c) => c.abort()), done: Promise.all(ends) };
}

void t.test('fields and their arithmetic after mixed load', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000', POOL_SIZE: '2', MAX_CONCURRENT_CONNECTIONS: '50' });
  const N = 24;
  const M = 6;
  const held = 3;

  // streams in flight: /status sees them while they run
  const hold = await holdStreams(s.client, held);
  const during = await status(s);
  t.equal(during.current_connections, held, 'current_connections counts the streams in flight');
  t.equal(during.connection_use, held / 50, 'connection_use = current / max');
  t.equal(during.pool.busy, held, 'the pool reports the streams as busy');

  // N concurrent requests, M of them failing upstream (500, no retry)
  const results = await Promise.allSettled(
    Array.from({ length: N }, (_, i) => {
      if (i < M) return s.client.chat.completions.create(chat('sim/error503') as never);
      if (i % 2 === 0) return s.client.chat.completions.create(chat('sim/echo;tokens=3') as never);
      return (async () => {
        const st = await s.client.chat.completions.create({ ...chat('sim/echo;tokens=4'), stream: true } as never);
        for await (const _ of st as unknown as AsyncIterable<unknown>) { /* drain */ }
      })();
    }),
  );
  t.equal(results.filter((r) => r.status === 'rejected').length, M, 'exactly the error503 requests failed');
  hold.close();
  await hold.done;
  await idle(s.service);

  const d = await status(s);
  // the guide's six fields, exact names
  for (const k of ['current_connections', 'max_connections', 'memory_usage_mb', 'memory_limit_mb', 'total_requests', 'error_count']) {
    t.type(d[k], 'number', `${k} is a number`);
  }
  t.equal(d.current_connections, 0, 'current_connections is back to exactly 0');
  t.equal(d.max_connections, 50);
  t.equal(d.memory_limit_mb, s.config.MEMORY_LIMIT_MB);
  t.ok(Number.isInteger(d.memory_usage_mb) && d.memory_usage_mb > 0, 'memory_usage_mb is a whole positive number');
  t.equal(d.total_requests, N + held, 'total_requests counts every proxied request');
  t.equal(d.error_count, M, 'error_count counts the failures (client aborts are not errors)');
  t.equal(d.server_errors, M);
  t.equal(d.client_aborts, held, 'the held streams ended as client aborts');
  t.equal(d.upstream_aborts, 0);
  t.equal(d.shed_count, 0);
  t.equal(d.queue_length, 0);
  t.same(d.outcomes, { ok: N - M, upstream_error: M, client_abort: held });
  t.ok(Math.abs(d.memory_use - d.memory_usage_mb / d.memory_limit_mb) <= 1 / d.memory_limit_mb, 'memory_use = usage / limit');

  // rolling windows
  const r10 = d.rates['last_10s']!;
  const r60 = d.rates['last_60s']!;
  t.equal(r10.window_s, 10);
  t.equal(r60.window_s, 60);
  t.equal(r60.error_rate, Math.round((M / (N + held)) * 10000) / 10000, 'error rate = server errors / admitted requests');
  t.ok(r60.requests_per_s > 0 && r60.errors_per_s > 0 && r60.errors_per_s < r60.requests_per_s, 'rates per second are positive');
  for (const [name, p] of [['response_time_ms', d.response_time_ms], ['ttfb_ms', d.ttfb_ms]] as const) {
    t.ok([p.p50, p.p95, p.p99].every((x) => Number.isInteger(x)), `${name} percentiles are rounded ms`);
    t.ok(p.p50! <= p.p95! && p.p95! <= p.p99!, `${name} p50 <= p95 <= p99`);
  }

  // identity, pool and mirrors
  t.equal(d['instance_id'], s.config.INSTANCE_ID);
  t.equal(d['version'], s.service.state.version);
  t.ok(Number.isInteger(d.uptime_s));
  t.equal(d.pool.size, 2);
  t.equal(d.pool.busy, 0, 'the pool is idle again');
  t.equal(d.pool.restarts, 0);
  t.equal(d.mirrors.length, 1);
  t.equal(d.mirrors[0]!.host, new URL(s.sim.baseUrl).host, 'a mirror shows its host only');
  // every worker writes the mirror state it shares with the main thread as it goes: /status is current
  const m = await status(s);
  t.equal(m.mirrors[0]!.circuit, 'closed');
  t.equal(m.mirrors[0]!.attempts, N + held, 'one upstream attempt per request (MAX_RETRIES=0)');
  t.equal(m.mirrors[0]!.failures, M, 'the upstream failures are counted per mirror');
  t.type(m.mirrors[0]!.latency_ms, 'number');
  // M of N + held is far over the default 5 %: the next evaluation raises the critical error-rate alert
  s.service.monitor.tick();
  const withAlert = await status(s);
  t.same(withAlert.alerts.map((a) => [a.name, a.severity, a.value, a.threshold]), [['error_rate', 'critical', Math.round((M / (N + held)) * 10000) / 10000, 0.05]]);
  t.notOk(JSON.stringify(d).includes(s.sim.baseUrl), 'no upstream URL in /status');
});

void t.test('at the connection limit: requests are shed, monitoring answers, the connections alert fires and clears', async (t) => {
  const s = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '2', SHED_THRESHOLD: '1', POOL_SIZE: '1' });
  const firing = s.service.monitor.transitions.next((a) => a.name === 'connections' && a.state === 'firing');
  const hold = await holdStreams(s.client, 2);
  const shed = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${s.config.VALID_API_KEYS[0]}`, 'content-type': 'application/json' },
    body: JSON.stringify(chat('sim/echo')),
  });
  t.equal(shed.status, 503, 'the next request is shed');
  await shed.arrayBuffer();
  for (const path of ['/status', '/metrics', '/dashboard', '/health']) {
    const r = await fetch(s.origin + path);
    t.equal(r.status, 200, `${path} answers at the limit`);
    await r.arrayBuffer();
  }
  const ac = new AbortController();
  const ev = await fetch(`${s.origin}/dashboard/events`, { signal: ac.signal });
  t.equal(ev.status, 200, '/dashboard/events answers at the limit');
  ac.abort();

  const a = await firing;
  t.equal(a.severity, 'warning');
  t.equal(a.value, 1);
  const d = await status(s);
  t.equal(d.current_connections, 2);
  t.equal(d.shed_count, 1);
  t.equal(d.connection_use, 1);
  const alert = d.alerts.find((x) => x.name === 'connections');
  t.ok(alert, '/status lists the alert');
  t.equal(alert?.severity, 'warning');
  t.equal(alert?.threshold, 0.85);
  t.ok(!Number.isNaN(Date.parse(alert?.since ?? '')), 'since is a timestamp');

  const resolved = s.service.monitor.transitions.next((x) => x.name === 'connections' && x.state === 'resolved');
  hold.close();
  await hold.done;
  await idle(s.service);
  await resolved;
  const after = await status(s);
  t.equal(after.current_connections, 0);
  t.same(after.alerts, []);
  const lines = s.logs.filter((l) => l['alert'] === 'connections');
  t.equal(lines.length, 2, 'one log line when it starts, one when it clears');
  t.equal(lines[0]?.['level'], 'warn');
  t.match(String(lines[0]?.['msg']), /alert firing/);
  t.equal(lines[1]?.['level'], 'info');
  t.match(String(lines[1]?.['msg']), /alert resolved/);
});

void t.test('STATUS_TOKEN guards /status, /metrics, /dashboard and /dashboard/events', async (t) => {
  const token = 'status-token-0123';
  const s = await startStack(t, { STATUS_TOKEN: token });
  for (const path of ['/status', '/metrics', '/dashboard', '/dashboard/events']) {
    const none = await fetch(s.origin + path);
    t.equal(none.status, 401, `${path} without the token`);
    const body = (await none.json()) as { error: { code: string } };
    t.equal(body.error.code, 'unauthorized_status', `${path}: an OpenAI-shaped error`);
    const wrong = await fetch(s.origin + path, { headers: { authorization: 'Bearer status-token-0124' } });
    t.equal(wrong.status, 401, `${path} with a wrong token`);
    await wrong.arrayBuffer();
    const key = await fetch(s.origin + path, { headers: { authorization: `Bearer ${s.config.VALID_API_KEYS[0]}` } });
    t.equal(key.status, 401, `${path}: an API key is not the status token`);
    await key.arrayBuffer();
    for (const [how, init, url] of [
      ['bearer', { headers: { authorization: `Bearer ${token}` } }, s.origin + path],
      ['?token=', {}, `${s.origin}${path}?token=${token}`],
    ] as const) {
      const ac = new AbortController();
      const ok = await fetch(url, { ...init, signal: ac.signal });
      t.equal(ok.status, 200, `${path} with the token as ${how}`);
      ac.abort();
    }
  }
  const health = await fetch(`${s.origin}/health`);
  t.equal(health.status, 200, '/health needs no token');
  await health.arrayBuffer();
});

void t.test('ENABLE_METRICS=false: /metrics is a 404, the rest still answers', async (t) => {
  const s = await startStack(t, { ENABLE_METRICS: 'false' });
  const r = await fetch(`${s.origin}/metrics`);
  t.equal(r.status, 404);
  await r.arrayBuffer();
  const d = await status(s);
  t.equal(d.total_requests, 1, 'the 404 is counted like every request');
  t.equal(d.error_count, 0, 'as a client error, not a server error');
});
