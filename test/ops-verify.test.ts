// Verify: the after-deployment checklist against a live service on the simulator (all PASS) and broken targets (exit 1).
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KEY, idle, startStack } from './helpers/harness.js';
import { judgeStatus, judgeMemory } from '../src/ops/verify-checks.js';
import { planBurst } from '../src/ops/verify-burst.js';
import { normaliseBase } from '../src/ops/target.js';
import { sseData } from '../src/ops/sse.js';

/** A quick complete stream, for runs where the stream is not the point. */
const FAST = 'sim/echo;tokens=4';
const SCRIPT = fileURLToPath(new URL('../src/ops/verify.js', import.meta.url));

interface Report {
  ok: boolean;
  checks: Array<{ status: string; check: string; reason: string; data?: Record<string, unknown> }>;
}

/** Runs the compiled verify script (asynchronously: the service under test lives in this process). */
function verify(args: string[]): Promise<{ code: number | null; report: Report; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args, '--json'], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        resolve({ code, stdout, report: JSON.parse(stdout) as Report });
      } catch (e) {
        reject(new Error(`verify printed no JSON (exit ${code}): ${stdout}`, { cause: e }));
      }
    });
  });
}

const byName = (r: Report, name: string) => r.checks.find((c) => c.check === name);

void t.test('a healthy instance on the simulator: every check passes, exit 0', async (t) => {
  const stack = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '10' });
  const { code, report } = await verify([`${stack.origin}/v1`, '--key', KEY]);
  t.same(report.checks.map((c) => c.check), ['health', 'ready', 'status', 'stream', 'concurrency-limit', 'memory']);
  t.same(report.checks.filter((c) => c.status !== 'PASS'), [], 'all PASS');
  t.equal(code, 0);
  const burst = byName(report, 'concurrency-limit')!.data!;
  const shedAt = Math.floor(10 * stack.config.SHED_THRESHOLD);
  t.ok((burst.admitted as number) <= shedAt, 'admitted no more than the shed threshold');
  t.ok((burst.shed as number) >= 1, 'some were shed');
  t.equal((burst.admitted as number) + (burst.shed as number), burst.streams, 'every request admitted or shed');
  t.equal(stack.service.state.admission.shed, burst.shed, 'the service counted the same sheds');
  await idle(stack.service);
  t.equal(stack.service.state.admission.inFlight, 0, 'the burst streams were cancelled');
});

void t.test('a draining instance: /ready fails, exit 1', async (t) => {
  const stack = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '10' });
  stack.service.state.admission.close(); // past its shutdown grace: new requests are refused
  const { code, report } = await verify([stack.origin, '--key', KEY]);
  t.equal(code, 1);
  t.equal(byName(report, 'health')?.status, 'PASS', 'liveness still passes');
  t.equal(byName(report, 'ready')?.status, 'FAIL');
  t.match(byName(report, 'ready')?.reason, /503 \(draining\)/);
  t.equal(byName(report, 'stream')?.status, 'FAIL', 'no stream once past the grace');
});

void t.test('a closed port: health fails, nothing else is tried, exit 1', async (t) => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const { code, report } = await verify([`http://127.0.0.1:${port}`]);
  t.equal(code, 1);
  t.same(report.checks.map((c) => [c.status, c.check]), [['FAIL', 'health']]);
  t.match(report.checks[0]!.reason, /ECONNREFUSED/);
});

void t.test('a stream cut by the upstream fails; a wrong key fails', async (t) => {
  const stack = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '10' });
  const truncated = await verify([stack.origin, '--key', KEY, '--model', 'sim/close', '--no-burst']);
  t.equal(truncated.code, 1);
  t.equal(byName(truncated.report, 'stream')?.status, 'FAIL');
  t.equal(byName(truncated.report, 'concurrency-limit')?.status, 'WARN', 'skipped on request');
  const wrongKey = await verify([stack.origin, '--key', 'not-the-key', '--no-burst', '--model', FAST]);
  t.equal(wrongKey.code, 1);
  t.match(byName(wrongKey.report, 'stream')?.reason, /401/);
  const tooSmall = await verify([stack.origin, '--key', KEY, '--burst', '3']);
  t.equal(tooSmall.code, 1, 'a burst that never reaches the threshold proves nothing: FAIL');
  t.match(byName(tooSmall.report, 'concurrency-limit'), { status: 'FAIL', data: { admitted: 3, shed: 0 } });
});

void t.test('STATUS_TOKEN: /status needs --status-token', async (t) => {
  const stack = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '10', STATUS_TOKEN: 'status-secret-1' });
  const without = await verify([stack.origin, '--key', KEY, '--no-burst', '--model', FAST]);
  t.equal(without.code, 1);
  t.match(byName(without.report, 'status')?.reason, /401/);
  const withToken = await verify([stack.origin, '--key', KEY, '--no-burst', '--model', FAST, '--status-token', 'status-secret-1']);
  t.equal(byName(withToken.report, 'status')?.status, 'PASS');
  t.equal(withToken.code, 0);
});

void t.test('bad usage exits 2', async (t) => {
  const child = spawn(process.execPath, [SCRIPT], { stdio: 'ignore' });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  t.equal(code, 2);
});

void t.test('judgeStatus: the guide\'s six fields, sane', async (t) => {
  const ok = { current_connections: 3, max_connections: 10, memory_usage_mb: 100, memory_limit_mb: 2048, total_requests: 50, error_count: 0, settings: { profile: 'basic' } };
  t.equal(judgeStatus(ok).result.status, 'PASS');
  t.equal(judgeStatus({ ...ok, error_count: undefined }).result.status, 'FAIL');
  t.equal(judgeStatus({ ...ok, total_requests: '5' }).result.status, 'FAIL');
  t.equal(judgeStatus({ ...ok, current_connections: 11 }).result.status, 'FAIL');
  t.equal(judgeStatus({ ...ok, memory_usage_mb: 3000 }).result.status, 'FAIL');
  t.equal(judgeStatus({ ...ok, current_connections: 9 }).result.status, 'WARN', 'connections > 85 %');
  t.equal(judgeStatus({ ...ok, error_count: 5 }).result.status, 'WARN', 'error rate > 5 %');
  t.equal(judgeStatus({ ...ok, native_uws: false }).result.status, 'WARN');
  t.equal(judgeStatus([]).result.status, 'FAIL');
  t.equal(judgeMemory(null, null).status, 'FAIL');
  t.equal(judgeMemory({ ...ok, memory_usage_mb: 1800 }, null).status, 'WARN');
});

void t.test('planBurst: past the shed point by 10 % of max (at least 2)', async (t) => {
  const s = { current_connections: 0, max_connections: 10, memory_usage_mb: 1, memory_limit_mb: 2, total_requests: 0, error_count: 0 };
  t.same(planBurst({ ...s, settings: { shed_threshold: 0.9 } }), { shedAt: 9, streams: 11 });
  t.same(planBurst({ ...s, max_connections: 1000, current_connections: 100 }), { shedAt: 900, streams: 900 });
  t.same(planBurst(s, 50), { shedAt: 9, streams: 50 });
  t.same(planBurst({ ...s, capacity: 5 }), { shedAt: 5, streams: 7 }, 'the service\'s own capacity wins');
});

void t.test('normaliseBase and the SSE reader', async (t) => {
  t.equal(normaliseBase('http://h:8000/v1/'), 'http://h:8000');
  t.equal(normaliseBase('https://h/proxy/v1'), 'https://h/proxy');
  t.throws(() => normaliseBase('ftp://h'));
  const enc = new TextEncoder();
  async function* reads(...parts: string[]): AsyncGenerator<Uint8Array> {
    for (const p of parts) yield enc.encode(p);
  }
  const got: string[] = [];
  for await (const d of sseData(reads(': ping\r\n\r', '\ndata: {"a":', '1}\r\n\r\ndata: x\ndata: y\n\nevent: e\ndata: [DO', 'NE]\n\ndata: cut'))) got.push(d);
  t.same(got, ['{"a":1}', 'x\ny', '[DONE]'], 'comments skipped, CRLF split across reads, unterminated last event dropped');
});
