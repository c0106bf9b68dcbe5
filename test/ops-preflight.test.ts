// Preflight: every before-deployment check made to fail on purpose, the capacity arithmetic, and the script's exit codes.
import t from 'tap';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadUws } from '../src/http/uws.js';
import { startSimulator } from '../src/simulator/index.js';
import {
  checkConfig, checkCpus, checkFdLimit, checkMemory, checkMirror, checkNativeUws, checkPort, parseOpenFiles, type FileReader,
} from '../src/ops/preflight-checks.js';
import { planCapacity, roundNice } from '../src/ops/capacity.js';
import { preflightChecks, runPreflight } from '../src/ops/preflight-cli.js';
import { exitCode } from '../src/ops/report.js';

const SCRIPT = fileURLToPath(new URL('../src/ops/preflight.js', import.meta.url));
const limits = (soft: string, hard = soft): string =>
  `Limit                     Soft Limit           Hard Limit           Units\nMax processes             63704                63704                processes\nMax open files            ${soft}                ${hard}                files\n`;
const meminfo = (availableKb: number): string => `MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   ${availableKb} kB\n`;
/** A reader serving the given files; every other path is absent. */
const files = (m: Record<string, string>): FileReader => (p) => m[p] ?? null;

function listenOn(host: string, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port }, () => resolve(s));
  });
}
const closeServer = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

function runScript(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

void t.test('config: valid passes, an invalid variable fails naming it', async (t) => {
  t.equal(checkConfig({ PROFILE: 'medium' }, '').result.status, 'PASS');
  const bad = checkConfig({ MAX_CONCURRENT_CONNECTIONS: 'many' }, '');
  t.equal(bad.result.status, 'FAIL');
  t.equal(bad.config, null);
  t.match(bad.result.reason, /MAX_CONCURRENT_CONNECTIONS/);
});

void t.test('fd limit: 2 descriptors per stream plus headroom', async (t) => {
  t.same(parseOpenFiles(limits('1024', '4096')), { soft: 1024, hard: 4096 });
  t.same(parseOpenFiles(limits('unlimited')), { soft: Infinity, hard: Infinity });
  t.equal(checkFdLimit(1000, files({ '/proc/self/limits': limits('20000') })).status, 'PASS');
  t.equal(checkFdLimit(1000, files({ '/proc/self/limits': limits('3024') })).status, 'PASS', 'exactly 2 × 1000 + 1024');
  const low = checkFdLimit(1000, files({ '/proc/self/limits': limits('3023', '3023') }));
  t.equal(low.status, 'FAIL');
  t.match(low.reason, /3024/);
  t.match(low.reason, /lower MAX_CONCURRENT_CONNECTIONS to ≤ 999/);
  t.match(checkFdLimit(1000, files({ '/proc/self/limits': limits('1024', '65536') })).reason, /raise the soft limit/);
  t.equal(checkFdLimit(1000, files({ '/proc/self/limits': limits('unlimited') })).status, 'PASS');
  t.equal(checkFdLimit(1000, files({})).status, 'WARN', 'unreadable limits warn, they do not pass');
});

void t.test('memory: MemAvailable and the cgroup limit against MEMORY_LIMIT_MB', async (t) => {
  const mb = (n: number): number => n * 1024;
  t.equal(checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(8000)) })).status, 'PASS');
  const low = checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(1000)) }));
  t.equal(low.status, 'FAIL');
  t.match(low.reason, /MemAvailable 1000 MB < MEMORY_LIMIT_MB 2048/);
  const cg = checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(8000)), '/sys/fs/cgroup/memory.max': String(1024 * 1048576) }));
  t.equal(cg.status, 'FAIL', 'a cgroup limit below MEMORY_LIMIT_MB fails');
  t.match(cg.reason, /cgroup memory limit 1024 MB/);
  const v1 = checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(8000)), '/sys/fs/cgroup/memory/memory.limit_in_bytes': String(1024 * 1048576) }));
  t.equal(v1.status, 'FAIL', 'cgroup v1 limit read too');
  t.equal(checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(8000)), '/sys/fs/cgroup/memory.max': 'max\n' })).status, 'PASS', '"max" is no limit');
  t.equal(checkMemory(2048, files({ '/proc/meminfo': meminfo(mb(8000)), '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' })).status, 'PASS', 'v1 "unlimited"');
  t.equal(checkMemory(2048, files({ '/sys/fs/cgroup/memory.max': String(2100 * 1048576) })).status, 'WARN', 'under 10 % headroom below the cgroup limit');
  t.equal(checkMemory(2048, files({})).status, 'WARN');
});

void t.test('cpus: the guide\'s cores for the profile', async (t) => {
  t.equal(checkCpus('basic', 1000, 2).status, 'PASS');
  t.equal(checkCpus('basic', 1000, 1).status, 'FAIL');
  t.equal(checkCpus('medium', 3000, 2).status, 'FAIL');
  t.equal(checkCpus('high', 8000, 4).status, 'FAIL');
  t.match(checkCpus('high', 8000, 4).reason, /< 8/);
  t.equal(checkCpus('basic', 5000, 2).status, 'WARN', 'more streams than the table gives 2 cores');
  t.equal(checkCpus('high', 8000, 16).status, 'PASS');
});

void t.test('native uWS: a missing build fails, the real one matches loadUws', async (t) => {
  const missing = checkNativeUws(() => ({ native: false, nativeError: 'cannot open shared object' }), true);
  t.equal(missing.status, 'FAIL');
  t.match(missing.reason, /cannot open shared object/);
  t.match(missing.reason, /refuse to start/);
  t.equal(checkNativeUws(() => { throw new Error('boom'); }, false).status, 'FAIL');
  t.equal(checkNativeUws(() => loadUws(false), true).status, loadUws(false).native ? 'PASS' : 'FAIL');
});

void t.test('mirrors: reachable passes with the key sent, a closed port fails, errors are reported', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const ok = await checkMirror(sim.baseUrl, 'up-key-123', 5000);
  t.equal(ok.status, 'PASS', ok.reason);
  const rec = sim.requests.at(-1);
  t.equal(rec?.path, new URL(`${sim.baseUrl}/models`).pathname);
  t.equal(rec?.headers.authorization, 'Bearer up-key-123');
  sim.setModelsDown(true);
  const down = await checkMirror(sim.baseUrl, undefined, 5000);
  t.equal(down.status, 'WARN');
  t.match(down.reason, /503/);

  const closed = await listenOn('127.0.0.1');
  const port = (closed.address() as AddressInfo).port;
  await closeServer(closed);
  const gone = await checkMirror(`http://127.0.0.1:${port}/v1/openai`, undefined, 5000);
  t.equal(gone.status, 'FAIL');
  t.match(gone.reason, /ECONNREFUSED/);

  const denied = await checkMirror('https://mirror.invalid/v1', 'k', 5000, async () => ({ status: 401 }));
  t.equal(denied.status, 'FAIL');
  t.match(denied.reason, /DEEPINFRA_API_KEY/);
});

void t.test('port: in use fails, free passes, 0 always passes', async (t) => {
  const srv = await listenOn('127.0.0.1');
  const port = (srv.address() as AddressInfo).port;
  const busy = await checkPort('127.0.0.1', port);
  t.equal(busy.status, 'FAIL');
  t.match(busy.reason, /already in use/);
  await closeServer(srv);
  t.equal((await checkPort('127.0.0.1', port)).status, 'PASS');
  t.equal((await checkPort('127.0.0.1', 0)).status, 'PASS');
});

void t.test('all checks with healthy inputs pass; one bad reader flips the exit code', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const good = {
    env: { PORT: '0', HOST: '127.0.0.1', DEEPINFRA_MIRRORS: sim.baseUrl },
    dotenvPath: '',
    read: files({ '/proc/self/limits': limits('65536'), '/proc/meminfo': meminfo(16_000_000) }),
    cpus: () => 4,
    uws: () => ({ native: true, nativeError: null }),
    timeoutMs: 5000,
  };
  const all = await preflightChecks(good);
  t.same(all.map((r) => r.check), ['config', 'fd-limit', 'memory', 'cpus', 'native-uws', `mirror ${sim.baseUrl}`, 'port']);
  t.same(all.filter((r) => r.status !== 'PASS'), []);
  t.equal(exitCode(all), 0);
  const worse = await preflightChecks({ ...good, read: files({ '/proc/self/limits': limits('1024'), '/proc/meminfo': meminfo(16_000_000) }) });
  t.equal(exitCode(worse), 1);
  t.same(worse.filter((r) => r.status === 'FAIL').map((r) => r.check), ['fd-limit']);
  const offline = await preflightChecks({ ...good, skipNetwork: true, skipPort: true });
  t.notOk(offline.some((r) => r.check.startsWith('mirror') || r.check === 'port'));
});

void t.test('calculator: the guide\'s two worked examples', async (t) => {
  const mostlyLight = planCapacity({ users: 1000, heavyShare: 0.2 });
  t.match(mostlyLight, { light: 800, heavy: 200, connectionSeconds: 32000, equivalent: 533 });
  const heavier = planCapacity({ users: 1000, heavyShare: 0.3 });
  t.match(heavier, { light: 700, heavy: 300, connectionSeconds: 43000, equivalent: 717 });
  t.ok(heavier.totalMax * 0.9 >= heavier.peak, 'peaks stay under the shed threshold');
  t.ok(heavier.totalMax * 0.85 >= heavier.equivalentExact, 'the mean stays under the connection warning');

  const lines: string[] = [];
  t.equal(await runPreflight(['--users', '1000', '--heavy', '0.3', '--cores', '2'], { out: (s) => lines.push(s) }), 0);
  const text = lines.join('');
  t.match(text, /700×10 s \+ 300×120 s = 43000 s/);
  t.match(text, /43000\/60 = 717/);
  t.match(text, new RegExp(`MAX_CONCURRENT_CONNECTIONS=${heavier.settings.MAX_CONCURRENT_CONNECTIONS}\\b`));
  t.match(text, /STREAM_BUFFER_SIZE=16384/);

  const json: string[] = [];
  await runPreflight(['--users', '1000', '--heavy', '0.2', '--window', '60', '--json'], { out: (s) => json.push(s) });
  t.equal((JSON.parse(json.join('')) as { plan: { equivalent: number } }).plan.equivalent, 533);
});

void t.test('calculator: instances, buffer and memory follow the inputs', async (t) => {
  const small = planCapacity({ users: 10_000, heavyShare: 0.3, cores: 2, fdLimit: 20_000 });
  t.equal(small.perInstanceCap, 1000, '2 cores: the guide\'s 1000 per instance');
  t.ok(small.instances > 1);
  const big = planCapacity({ users: 10_000, heavyShare: 0.3, cores: 16, fdLimit: 20_000 });
  t.equal(big.perInstanceCap, Math.floor((20_000 - 1024) / 2), 'the fd limit caps a 16-core instance');
  t.ok(big.instances < small.instances);
  const lean = planCapacity({ users: 1000, heavyShare: 0.3, streamKb: 14 });
  const fat = planCapacity({ users: 1000, heavyShare: 0.3, streamKb: 1400 });
  t.ok(fat.settings.MEMORY_LIMIT_MB > lean.settings.MEMORY_LIMIT_MB, 'memory grows with the measured per-stream figure');
  t.throws(() => planCapacity({ users: 0, heavyShare: 0.3 }), RangeError);
  t.throws(() => planCapacity({ users: 10, heavyShare: 1.5 }), RangeError);
  t.equal(await runPreflight(['--users', '1000'], { out: () => undefined }), 2, '--heavy is required');
  t.equal(await runPreflight(['--users', 'lots', '--heavy', '0.3'], { out: () => undefined }), 2);
});

void t.test('calculator properties: settings always cover the load', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 200_000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 64 }), (users, heavyShare, cores) => {
      const p = planCapacity({ users, heavyShare, cores, fdLimit: 20_000 });
      const s = p.settings;
      return (
        p.light + p.heavy === users &&
        s.MAX_CONCURRENT_CONNECTIONS <= p.perInstanceCap &&
        s.MAX_CONCURRENT_CONNECTIONS * p.instances >= p.totalMax &&
        p.totalMax * 0.9 >= p.peak - 1 &&
        p.fdsNeeded <= 20_000 &&
        s.MEMORY_LIMIT_MB * 0.8 >= 128 + (s.MAX_CONCURRENT_CONNECTIONS * (14 + s.STREAM_BUFFER_SIZE / 1024)) / 1024
      );
    }),
  );
  t.equal(roundNice(717), 750);
  t.equal(roundNice(1001), 1100);
  t.equal(roundNice(3), 10);
});

void t.test('the compiled script: exit 1 on a FAIL, 0 for the calculator, 2 for bad flags', async (t) => {
  const cwd = t.testdir({});
  const bad = await runScript(['--skip-network', '--skip-port'], { PROFILE: 'nope' }, cwd);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /^FAIL config: PROFILE: must be one of basic, medium, high$/m);
  const json = await runScript(['--json', '--skip-network'], { MAX_CONCURRENT_CONNECTIONS: 'x' }, cwd);
  t.equal(json.code, 1);
  const doc = JSON.parse(json.stdout) as { ok: boolean; checks: Array<{ status: string; check: string }> };
  t.equal(doc.ok, false);
  t.same(doc.checks.map((c) => [c.status, c.check]), [['FAIL', 'config']]);
  const calc = await runScript(['--users', '1000', '--heavy', '0.3'], {}, cwd);
  t.equal(calc.code, 0);
  t.match(calc.stdout, /43000\/60 = 717/);
  t.equal((await runScript(['--frobnicate'], {}, cwd)).code, 2);
});
