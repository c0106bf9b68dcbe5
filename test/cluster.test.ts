// Multi-instance deployment: the deployment files checked statically, then the committed nginx.conf under real nginx.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { parse as parseYaml } from 'yaml';
import { readProfile } from '../src/config.js';
import { NODE_FLAGS } from '../src/start-command.js';
import { nextEvent } from './helpers/harness.js';
import { startSimulator, type SimAbortEvent } from '../src/simulator/index.js';
import { blocks, directives, findNginx, freePort, nginxDir, nginxTest, renderNginxConf, startCluster, startInstance, ROOT, type Cluster } from './helpers/cluster.js';

const KEY = 'cluster-key-0123456789';
/** The contract's bound for a client disconnect to reach the upstream through nginx (§5 says 100 ms without it). */
const ABORT_BOUND_MS = 250;
const ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/images/generations', '/v1/audio/speech', '/v1/audio/transcriptions', '/v1/audio/translations', '/v1/models', '/health', '/ready', '/status', '/metrics', '/dashboard', '/dashboard/events'];
const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
/** The start command everywhere (npm start, the Dockerfile's CMD, the entrypoint's default). */
const START = ['node', ...NODE_FLAGS, 'dist/src/main.js'].join(' ');
const chat = (model: string): { model: string; messages: Array<{ role: 'user'; content: string }> } => ({
  model,
  messages: [{ role: 'user', content: 'hello' }],
});

interface Outcome {
  readonly chunks: number;
  readonly finish: string | null;
  readonly error: unknown;
  /** performance.now() of each chunk's arrival. */
  readonly times: number[];
}

/** Consumes a stream; `first` settles with the first chunk (or the failure), `done` with the whole outcome. */
function consume(stream: AsyncIterable<ChatCompletionChunk>): { first: Promise<void>; done: Promise<Outcome> } {
  let firstResolve!: () => void;
  let firstReject!: (e: unknown) => void;
  const first = new Promise<void>((res, rej) => [firstResolve, firstReject] = [res, rej]);
  const done = (async (): Promise<Outcome> => {
    const times: number[] = [];
    let finish: string | null = null;
    try {
      for await (const c of stream) {
        times.push(performance.now());
        if (times.length === 1) firstResolve();
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      if (times.length === 0) firstReject(new Error('stream ended without a chunk'));
      return { chunks: times.length, finish, error: null, times };
    } catch (e) {
      firstReject(e);
      return { chunks: times.length, finish, error: e, times };
    }
  })();
  return { first, done };
}

async function getJson(url: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const r = await fetch(url);
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
}

function client(origin: string): OpenAI {
  return new OpenAI({ apiKey: KEY, baseURL: `${origin}/v1`, maxRetries: 0, timeout: 60_000 });
}

// ---------------------------------------------------------------------------------------------------------------
// Static checks: run everywhere, nginx or not.

void t.test('nginx.conf: every proxying location speaks HTTP/1.1 to the instances, unbuffered', async (t) => {
  const conf = read('nginx.conf');
  const locations = blocks(conf, 'location');
  for (const route of ROUTES) t.ok(locations.some((l) => l.args === `= ${route}`), `exact location for ${route}`);
  const proxying = locations.filter((l) => directives(l.body, 'proxy_pass').length > 0);
  t.ok(proxying.length >= ROUTES.length);
  for (const l of proxying) {
    const d = (name: string): string[] => directives(l.body, name);
    t.same(d('proxy_http_version'), ['1.1'], `${l.args}: proxy_http_version 1.1`);
    t.ok(d('proxy_set_header').includes('Connection ""'), `${l.args}: Connection cleared for keepalive`);
    t.ok(d('proxy_set_header').includes('X-Real-IP $remote_addr'), `${l.args}: X-Real-IP`);
    t.ok(d('proxy_set_header').includes('X-Forwarded-For $proxy_add_x_forwarded_for'), `${l.args}: X-Forwarded-For`);
    t.ok(d('proxy_set_header').includes('Host $host'), `${l.args}: Host`);
    t.same(d('proxy_buffering'), ['off'], `${l.args}: proxy_buffering off`);
    t.same(d('proxy_pass'), ['http://deepinfra_backend'], `${l.args}: to the upstream group`);
  }
  // A shed 503 is an answer: it must neither be retried elsewhere nor replaced by nginx's page.
  t.same(directives(conf, 'proxy_next_upstream'), ['error timeout']);
  t.notOk(/http_50[0-9]|non_idempotent/.test(directives(conf, 'proxy_next_upstream').join(' ')));
  t.same(directives(conf, 'proxy_intercept_errors'), ['off']);
  const [upstream] = blocks(conf, 'upstream');
  t.equal(upstream?.args, 'deepinfra_backend');
  const up = (name: string): string[] => directives(upstream?.body ?? '', name);
  t.same(up('server'), [1, 2, 3].map((n) => `deepinfra-${n}:8000 max_fails=3 fail_timeout=30s`));
  t.same(up('least_conn'), ['']);
  t.match(up('zone')[0], /^deepinfra_backend \d+k$/);
  t.ok(Number(up('keepalive')[0]) > 0, 'upstream keepalive');
  t.ok(parseInt(up('keepalive_timeout')[0] ?? '', 10) < 10, 'upstream keepalive_timeout under the service’s fixed 10 s idle timeout');
  t.ok(parseInt(directives(conf, 'proxy_read_timeout')[0] ?? '', 10) >= 600, 'proxy_read_timeout >= 600s');
  const streams = 3 * 2000 * 2;
  t.ok(Number(directives(conf, 'worker_connections')[0]) > streams, 'worker_connections > 3 x 2000 streams x 2 connections');
  t.ok(Number(directives(conf, 'worker_rlimit_nofile')[0]) >= Number(directives(conf, 'worker_connections')[0]));
  t.ok(parseInt(directives(conf, 'client_max_body_size')[0] ?? '', 10) * 1024 * 1024 >= 10 * 1024 * 1024, 'body limit >= 10 MiB');
  for (const code of [413, 502, 503, 504]) {
    t.ok(directives(conf, 'error_page').includes(`${code} @error_${code}`), `error_page ${code}`);
    const page = locations.find((l) => l.args === `@error_${code}`);
    const body = /^(\d+) '(.*)'$/.exec(directives(page?.body ?? '', 'return')[0] ?? '');
    t.equal(body?.[1], String(code));
    const json = JSON.parse(body?.[2] ?? 'null') as { error?: Record<string, unknown> } | null;
    t.same(Object.keys(json?.error ?? {}).sort(), ['code', 'message', 'param', 'type'], `${code} body is OpenAI-shaped`);
    if (code === 502 || code === 503) t.ok(directives(page?.body ?? '', 'add_header').includes('Retry-After 1 always'), `${code} Retry-After`);
  }
  t.same(directives(conf, 'default_type'), ['application/json']);
  t.notOk(directives(conf, 'gzip').includes('on'), 'gzip never on (it holds events back)');
  t.same(directives(conf, 'proxy_ignore_headers'), [], 'X-Accel-Buffering from the service is honoured');
});

void t.test('the rendering for local runs changes only addresses and root-owned paths', async (t) => {
  const conf = read('nginx.conf');
  const out = renderNginxConf(conf, { backends: new Map([[`deepinfra-1`, 1001], [`deepinfra-2`, 1002], [`deepinfra-3`, 1003]]), listenPort: 2000, dir: '/tmp/x' });
  const a = conf.split('\n');
  const b = out.split('\n');
  t.equal(b.length, a.length);
  const changed = a.map((line, i) => [line, b[i]] as const).filter(([x, y]) => x !== y);
  for (const [before] of changed) t.match(before, /^\s*(listen 80;|server deepinfra-\d:8000 |\S+\s+\/var\/(run|log|cache)\/)/, `may change: ${before.trim()}`);
  t.ok(out.includes('server 127.0.0.1:1002 max_fails=3 fail_timeout=30s;'));
  t.throws(() => renderNginxConf(conf.replace('listen 80;', 'listen 8080;'), { backends: new Map(), listenPort: 1, dir: '/x' }));
});

void t.test('.env.example lists every variable config.ts reads', async (t) => {
  const src = read('src/config.ts');
  const schema = src.slice(src.indexOf('const schema = z.object({'), src.indexOf('\n});', src.indexOf('const schema = z.object({')));
  const vars = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
  t.ok(vars.length > 30, `found ${vars.length} variables in the schema`);
  const example = read('.env.example');
  const listed = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
  t.same([...new Set(listed)].sort(), [...vars].sort());
});

void t.test('compose files: the guide’s topology with healthchecks, grace and limits', async (t) => {
  const grace = Number(/SHUTDOWN_GRACE_MS: int\(0, [\d_]+\)\.default\('(\d+)'\)/.exec(read('src/config.ts'))?.[1]);
  t.ok(grace > 0, 'SHUTDOWN_GRACE_MS default found');
  const seconds = (s: unknown): number => Number(/^(\d+)s$/.exec(String(s))?.[1] ?? NaN);
  type Service = Record<string, unknown> & { environment?: Record<string, string>; healthcheck?: { test?: string[] } };
  const load = (f: string): Record<string, Service> => (parseYaml(read(f), { merge: true }) as { services: Record<string, Service> }).services;

  const single = load('docker-compose.yml');
  const [one] = Object.values(single);
  t.equal(one?.env_file, '.env');
  t.same(one?.ports, ['8000:8000']);
  t.ok(seconds(one?.stop_grace_period) * 1000 > grace, 'single: stop_grace_period > SHUTDOWN_GRACE_MS');

  const cluster = load('docker-compose-cluster.yml');
  const nginx = cluster['nginx'];
  t.equal(nginx?.image, 'nginx:alpine');
  t.same(nginx?.ports, ['80:80']);
  t.same(nginx?.volumes, ['./nginx.conf:/etc/nginx/nginx.conf:ro']);
  const upstreamServers = directives(blocks(read('nginx.conf'), 'upstream')[0]?.body ?? '', 'server').map((s) => s.split(' ')[0]);
  const names = [1, 2, 3].map((n) => `deepinfra-${n}`);
  t.same(upstreamServers, names.map((n) => `${n}:8000`), 'nginx.conf names exactly the compose instances and their PORT');
  for (const name of names) {
    const s = cluster[name];
    t.same((nginx?.depends_on as Record<string, unknown>)[name], { condition: 'service_healthy' }, `nginx waits for ${name}`);
    t.equal(s?.environment?.INSTANCE_ID, name);
    t.equal(s?.environment?.PORT, '8000');
    t.equal(s?.environment?.MAX_CONCURRENT_CONNECTIONS, '2000');
    t.equal(s?.env_file, '.env');
    t.equal(s?.restart, 'unless-stopped');
    t.ok(seconds(s?.stop_grace_period) * 1000 > grace, `${name}: stop_grace_period > SHUTDOWN_GRACE_MS`);
    t.ok(Number((s?.ulimits as { nofile?: { soft?: number } }).nofile?.soft) >= 65536, `${name}: nofile`);
    t.match(s?.healthcheck?.test?.join(' '), /fetch\('http:\/\/127\.0\.0\.1:8000\/health'\)/);
    t.notOk(s?.ports, `${name}: reachable through nginx only`);
  }
});

void t.test('deploy/k8s: probes, drain window, HPA on connection use', async (t) => {
  const grace = Number(/SHUTDOWN_GRACE_MS: int\(0, [\d_]+\)\.default\('(\d+)'\)/.exec(read('src/config.ts'))?.[1]);
  type Doc = { kind?: string; spec?: Record<string, unknown> };
  const docs = ['deployment.yaml', 'service.yaml', 'hpa.yaml'].map((f) => parseYaml(read(join('deploy', 'k8s', f))) as Doc);
  const [deployment, service, hpa] = docs;
  t.same(docs.map((d) => d.kind), ['Deployment', 'Service', 'HorizontalPodAutoscaler']);
  const pod = (deployment?.spec?.template as { spec: Record<string, unknown> }).spec;
  const [container] = pod.containers as Array<Record<string, Record<string, unknown>>>;
  const probePath = (name: string): unknown => (container?.[name]?.httpGet as { path?: string } | undefined)?.path;
  t.equal(probePath('readinessProbe'), '/ready');
  t.equal(probePath('livenessProbe'), '/health');
  const preStop = ((container?.lifecycle?.preStop as { exec: { command: string[] } }).exec.command);
  const sleep = Number(preStop.at(-1));
  t.ok(Number(pod.terminationGracePeriodSeconds) > sleep + grace / 1000, 'terminationGracePeriodSeconds > preStop + SHUTDOWN_GRACE_MS');
  t.equal(((service?.spec?.ports as Array<{ targetPort: unknown }>)[0])?.targetPort, 'http');
  const metric = (hpa?.spec?.metrics as Array<{ pods?: { metric: { name: string } } }>).find((m) => m.pods)?.pods?.metric.name;
  t.equal(metric, 'deepinfra_connection_use');
});

void t.test('Dockerfile: glibc base, production deps, non-root, tini, the start command', async (t) => {
  const df = read('Dockerfile');
  const froms = [...df.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  t.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) t.equal(f, 'node:22-bookworm-slim', 'Node 22 on glibc (bookworm: 2.36 >= the 2.27 uWS needs)');
  t.match(df, /^RUN npm ci\b/m);
  t.match(df, /^RUN npm ci --omit=dev\b/m);
  t.match(df, /^USER node$/m);
  t.match(df, /apt-get install [^\n]*\blibjemalloc2\b/, 'jemalloc installed for the entrypoint to preload');
  t.match(df, /^STOPSIGNAL SIGTERM$/m);
  t.match(df, /^HEALTHCHECK .*\n?.*\/health/m);
  t.match(df, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/app\/deploy\/entrypoint\.sh"\]$/m);
  t.ok(df.split('\n').includes(`CMD ${JSON.stringify(START.split(' ')).replaceAll('","', '", "')}`), `CMD runs ${START}`);
  t.match(df, /^ENV [^]*PROFILE=basic/m);
  t.same(JSON.parse(read('package.json')).scripts.start, START, 'same command as npm start');
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const needed of ['src', 'workers', 'profiles', 'deploy/entrypoint.sh', 'package-lock.json', 'tsconfig.json']) {
    t.match(df, new RegExp(`^COPY .*${needed.replace('.', '\\.')}`, 'm'), `copies ${needed}`);
    t.notOk(ignored.includes(needed), `${needed} not in .dockerignore`);
  }
  t.ok(ignored.includes('.env') && ignored.includes('node_modules'), 'no secrets or host modules in the context');
});

const ENTRYPOINT = join(ROOT, 'deploy', 'entrypoint.sh');

/** deploy/entrypoint.sh in a dry run: what it would exec (stdout), its warnings and its exit code. */
function entrypointDryRun(env: Record<string, string>, args: readonly string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('sh', [ENTRYPOINT, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ENTRYPOINT_DRY_RUN: '1', ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

void t.test('deploy/entrypoint.sh sets --max-old-space-size from MEMORY_LIMIT_MB and keeps the command', async (t) => {
  const cmd = START.split(' ');
  // (glibc: the command alone, without the allocator's preload in front of it; the next test covers that)
  const run = (env: Record<string, string>, args = cmd): ReturnType<typeof entrypointDryRun> => entrypointDryRun({ MALLOC: 'glibc', ...env }, args);
  const heap = (mb: number): string => `node --max-old-space-size=${Math.floor((mb * 75) / 100)} ${START.slice('node '.length)}`;
  t.same(run({}).out, heap(Number(readProfile('basic').MEMORY_LIMIT_MB)), 'default: the basic profile');
  t.same(run({ PROFILE: 'high' }).out, heap(Number(readProfile('high').MEMORY_LIMIT_MB)), 'from the PROFILE file');
  t.same(run({ PROFILE: 'high', MEMORY_LIMIT_MB: '1000' }).out, heap(1000), 'explicit MEMORY_LIMIT_MB wins');
  t.same(run({ MEMORY_LIMIT_MB: '1000', HEAP_PERCENT: '50' }).out, `node --max-old-space-size=500 ${START.slice('node '.length)}`);
  t.same(run({ MEMORY_LIMIT_MB: '1000', NODE_OPTIONS: '--max-old-space-size=300' }).out, cmd.join(' '), 'NODE_OPTIONS already sets it');
  t.same(run({}, []).out, heap(Number(readProfile('basic').MEMORY_LIMIT_MB)), 'no arguments: the default command');
  t.same(run({}, ['sh', '-c', 'true']).out, 'sh -c true', 'other commands untouched');
  const bad = run({ MEMORY_LIMIT_MB: '2g' });
  t.equal(bad.code, 2);
  t.match(bad.err, /MEMORY_LIMIT_MB/);
  // A real exec: the flag reaches node.
  const real = spawnSync('sh', [ENTRYPOINT, 'node', '-p', 'process.execArgv[0]'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MEMORY_LIMIT_MB: '400' },
    encoding: 'utf8',
  });
  t.equal(real.stdout.trim(), '--max-old-space-size=300');
});

void t.test('deploy/entrypoint.sh preloads jemalloc unless MALLOC=glibc, and says when it cannot', async (t) => {
  const run = (env: Record<string, string>, args = ['node', '-v']): ReturnType<typeof entrypointDryRun> => entrypointDryRun(env, args);
  const lib = ENTRYPOINT; // any readable file stands in for the library in a dry run
  const conf = 'background_thread:true';
  t.match(run({ JEMALLOC_LIB: lib }).out, new RegExp(`^LD_PRELOAD=${lib} MALLOC_CONF=${conf} node --max-old-space-size=\\d+ -v$`), 'the default: jemalloc');
  t.match(run({ JEMALLOC_LIB: lib, MALLOC_CONF: 'narenas:2' }).out, /^LD_PRELOAD=\S+ MALLOC_CONF=narenas:2 node /, 'MALLOC_CONF given: kept');
  t.match(run({ JEMALLOC_LIB: lib, MALLOC: 'glibc' }).out, /^node --max-old-space-size=\d+ -v$/, 'MALLOC=glibc: nothing preloaded');
  t.match(run({ JEMALLOC_LIB: lib, LD_PRELOAD: '/x.so' }).out, /^node /, 'an LD_PRELOAD already set is left alone');
  const missing = run({ JEMALLOC_LIB: '/nonexistent/libjemalloc.so.2' });
  t.match(missing.out, /^node /, 'no library: glibc');
  t.match(missing.err, /JEMALLOC_LIB=\/nonexistent\/libjemalloc\.so\.2 is not readable/);
  const bad = run({ MALLOC: 'tcmalloc' });
  t.equal(bad.code, 2);
  t.match(bad.err, /MALLOC must be jemalloc or glibc/);
  // A real exec where jemalloc is installed (the image installs libjemalloc2): node runs with it.
  const found = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'].map((d) => join(d, 'libjemalloc.so.2')).find((p) => existsSync(p));
  if (found === undefined) {
    t.comment('libjemalloc.so.2 is not installed here: the real exec is not checked');
  } else {
    const real = spawnSync('sh', [ENTRYPOINT, 'node', '-p', "require('fs').readFileSync('/proc/self/maps', 'utf8').includes('libjemalloc')"], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      encoding: 'utf8',
    });
    t.equal(real.stdout.trim(), 'true', `node runs with ${found}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Under real nginx.

const nginxBin = findNginx();
if (nginxBin === null) {
  void t.test('cluster under nginx', { skip: 'nginx is not installed (CI installs it with .ci/install-nginx.sh)' }, () => {});
} else {
  const bin = nginxBin;

  void t.test('nginx -t accepts the rendered nginx.conf', async (t) => {
    const dir = nginxDir();
    const conf = renderNginxConf(read('nginx.conf'), { backends: new Map([1, 2, 3].map((n) => [`deepinfra-${n}`, 9000 + n])), listenPort: 9000, dir });
    const path = join(dir, 'nginx.conf');
    writeFileSync(path, conf);
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const r = nginxTest(bin, path, dir);
    t.ok(r.ok, r.output);
    t.match(r.output, /syntax is ok/);
  });

  void t.test('three instances behind nginx', async (t) => {
    const sim = await startSimulator();
    t.teardown(() => sim.close());
    const env = { VALID_API_KEYS: KEY, DEEPINFRA_MIRRORS: sim.baseUrl, POOL_SIZE: '1', MAX_RETRIES: '0' };
    const c: Cluster = await startCluster(t, bin, [env, env, env]);
    const ids = c.instances.map((i) => i.id);
    const api = client(c.nginx.origin);
    t.comment(`nginx on ${c.nginx.port}, instances on ${c.instances.map((i) => i.port).join(', ')}`);

    await t.test('HOST is the bind address: each instance answers on 127.0.0.1 only', async (t) => {
      t.equal(new Set(c.instances.map((i) => i.port)).size, 3, 'three ports on one machine');
      for (const i of c.instances) {
        t.equal((await getJson(`${i.origin}/status`)).body.instance_id, i.id, `${i.id} answers directly`);
        const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
          const s = connect(i.port, '127.0.0.2');
          s.once('connect', () => (s.destroy(), resolve(null)));
          s.once('error', (e) => resolve(e));
        });
        t.equal(err?.code, 'ECONNREFUSED', `${i.id} is not bound on 127.0.0.2`);
      }
    });

    await t.test('a second instance on a HOST:PORT in use', async (t) => {
      const port = String(await freePort());
      const first = await startInstance('dup-1', { ...env, PORT: port }, c.dir);
      t.teardown(async () => {
        first.kill('SIGKILL');
        await first.exited;
      });
      const second = await startInstance('dup-2', { ...env, PORT: port }, c.dir).catch((e: unknown) => e as Error);
      if (!(second instanceof Error)) {
        second.kill('SIGKILL');
        await second.exited;
      }
      t.ok(second instanceof Error, 'refuses to start (the port is exclusive, not SO_REUSEPORT)');
    });

    await t.test('/status through nginx says which instance answered; least_conn visits all three', async (t) => {
      const seen: string[] = [];
      for (let n = 0; n < 6; n++) {
        const r = await getJson(`${c.nginx.origin}/status`);
        t.equal(r.status, 200);
        t.match(r.headers.get('content-type'), /^application\/json/);
        seen.push(String(r.body.instance_id));
      }
      t.same([...new Set(seen)].sort(), ids, `answered by ${seen.join(', ')}`);
    });

    await t.test('the SDK through nginx: chat, stream, completions, embeddings, models', async (t) => {
      const one = await api.chat.completions.create(chat('sim/echo;tokens=3'));
      t.ok(one.choices[0]?.message.content, 'non-stream content');
      const { done } = consume(await api.chat.completions.create({ ...chat('sim/echo;tokens=4'), stream: true }));
      const s = await done;
      t.equal(s.error, null);
      t.equal(s.finish, 'stop');
      t.ok(s.chunks >= 4);
      const comp = await api.completions.create({ model: 'sim/echo;tokens=2', prompt: 'hi' });
      t.ok(comp.choices[0]?.text !== undefined);
      const emb = await api.embeddings.create({ model: 'sim/echo', input: ['a', 'b'] });
      t.equal(emb.data.length, 2);
      // Past client_body_buffer_size nginx spools the body to client_body_temp_path (a worker-writable dir).
      const big = await api.chat.completions.create({ model: 'sim/echo;tokens=2', messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] });
      t.ok(big.choices[0]?.message.content, 'a 2 MiB request body passes');
      const models = await api.models.list();
      t.ok(models.data.length > 0);
      const health = await getJson(`${c.nginx.origin}/health`);
      t.same([health.status, health.body], [200, { status: 'ok' }]);
      t.equal((await getJson(`${c.nginx.origin}/ready`)).status, 200);
      const unknown = await getJson(`${c.nginx.origin}/nope`);
      t.equal(unknown.status, 404);
      t.match(unknown.body, { error: { code: 'not_found' } });
    });

    await t.test('SSE through nginx arrives event by event, not buffered', async (t) => {
      const sent = performance.now();
      const { done } = consume(await api.chat.completions.create({ ...chat('sim/echo;tokens=5;interval=300'), stream: true }));
      const s = await done;
      t.equal(s.error, null);
      t.ok(s.chunks >= 5);
      const total = s.times.at(-1)! - sent;
      const firstAt = s.times[0]! - sent;
      const spread = s.times.at(-1)! - s.times[0]!;
      t.comment(`first event after ${firstAt.toFixed(0)} ms, last after ${total.toFixed(0)} ms`);
      t.ok(firstAt < total / 2, 'the first event arrives well before the last');
      t.ok(spread > total / 2, 'events are spread over the stream, not delivered in one burst');
      const distinct = new Set(s.times.map((x) => Math.round(x / 50))).size;
      t.ok(distinct >= 4, `events arrived at ${distinct} distinct times`);
    });

    await t.test(`a client disconnect through nginx aborts the upstream within ${ABORT_BOUND_MS} ms`, async (t) => {
      for (let n = 0; n < 3; n++) {
        const model = `sim/echo;tokens=100000;interval=20;seed=${n + 100}`;
        const ac = new AbortController();
        const { first, done } = consume(await api.chat.completions.create({ ...chat(model), stream: true }, { signal: ac.signal }));
        await first;
        const aborted = nextEvent<SimAbortEvent>(sim, 'abort', (e) => e.model === model);
        const at = performance.now();
        ac.abort();
        const ev = await aborted;
        const delay = ev.at - at;
        t.ok(delay < ABORT_BOUND_MS, `upstream aborted ${delay.toFixed(1)} ms after the client left`);
        // openai-node ends the iteration quietly when its own signal aborts it.
        t.match(await done, { error: null, finish: null }, 'the client stream ends without a finish');
      }
    });

    await t.test("nginx's own 413 is OpenAI-shaped JSON", async (t) => {
      const r = await new Promise<{ status: number | undefined; type: string | undefined; body: string }>((resolve, reject) => {
        const req = request(`${c.nginx.origin}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
        });
        req.flushHeaders();
      });
      t.equal(r.status, 413);
      t.match(r.type, /^application\/json/);
      t.match(JSON.parse(r.body), { error: { code: 'request_too_large', type: 'invalid_request_error', param: null } });
    });

    await t.test('SIGKILL of one instance fails only its streams; the others finish; new requests go on', async (t) => {
      const tokens = 30;
      const model = `sim/echo;tokens=${tokens};interval=100`;
      const streams = await Promise.all(Array.from({ length: 6 }, () => api.chat.completions.create({ ...chat(model), stream: true }).then(consume)));
      await Promise.all(streams.map((s) => s.first));
      const load = await Promise.all(c.instances.map(async (i) => Number((await getJson(`${i.origin}/status`)).body.current_connections)));
      t.equal(load.reduce((a, b) => a + b, 0), 6, `streams per instance: ${load.join('/')}`);
      const victimIndex = load.indexOf(Math.max(...load));
      const victim = c.instances[victimIndex]!;
      const onVictim = load[victimIndex]!;
      t.ok(onVictim > 0 && onVictim < 6, `${victim.id} carries ${onVictim} streams`);
      let aborts = 0;
      const countAbort = (e: SimAbortEvent): void => void (e.model === model && aborts++);
      sim.on('abort', countAbort);
      t.teardown(() => sim.off('abort', countAbort));

      victim.kill('SIGKILL');
      t.same(await victim.exited, { code: null, signal: 'SIGKILL' });
      const outcomes = await Promise.all(streams.map((s) => s.done));
      const failed = outcomes.filter((o) => o.error !== null);
      const finished = outcomes.filter((o) => o.error === null);
      t.equal(failed.length, onVictim, 'exactly the killed instance’s streams fail');
      for (const o of failed) {
        // A killed backend cannot send an error event; nginx closes the chunked response without its last chunk,
        // so the SDK's body reader raises a transport error (never a quiet success).
        t.ok(o.error instanceof Error, `failed: ${String(o.error)} (cause: ${String((o.error as Error).cause)})`);
        t.notOk(o.error instanceof APIError, 'not an HTTP status: the 200 was already out');
        // Measured: undici's body reader fails with TypeError('terminated'), cause SocketError 'other side closed'.
        t.match(o.error, { name: 'TypeError', message: 'terminated', cause: { code: 'UND_ERR_SOCKET' } });
        t.equal(o.finish, null, 'no finish_reason');
        t.ok(o.chunks > 0 && o.chunks < tokens, `truncated after ${o.chunks} chunks`);
      }
      for (const o of finished) t.same([o.finish, o.chunks >= tokens], ['stop', true], 'stream on a survivor completes');
      t.equal(aborts, onVictim, 'the simulator saw the killed instance’s upstream requests end');

      const survivors = c.instances.filter((i) => i !== victim).map((i) => i.id);
      for (let n = 0; n < 6; n++) {
        const r = await api.chat.completions.create(chat('sim/echo;tokens=2'));
        t.ok(r.choices[0]?.message.content, `request ${n + 1} after the kill succeeds`);
      }
      const seen: string[] = [];
      for (let n = 0; n < 6; n++) seen.push(String((await getJson(`${c.nginx.origin}/status`)).body.instance_id));
      t.comment(`/status after the kill: ${seen.join(', ')}`);
      t.same([...new Set(seen)].sort(), survivors, 'both survivors answer, and only they');
    });

    await t.test('with every instance gone, nginx answers 502 JSON with Retry-After', async (t) => {
      for (const i of c.instances) i.kill('SIGTERM');
      for (const i of c.instances) {
        const r = await i.exited;
        t.ok(r.signal === 'SIGKILL' || r.code === 0, `${i.id} ended (${r.code ?? r.signal})`);
      }
      const err = await api.chat.completions.create(chat('sim/echo')).catch((e: unknown) => e);
      t.ok(err instanceof APIError, String(err));
      const e = err as APIError;
      t.equal(e.status, 502);
      t.equal(e.code, 'bad_gateway');
      t.equal(e.type, 'server_error');
      t.equal(e.headers?.get('retry-after'), '1');
      t.match(e.headers?.get('content-type'), /^application\/json/);
    });
  });

  void t.test('a shed 503 from a full instance reaches the client through nginx', async (t) => {
    const sim = await startSimulator();
    t.teardown(() => sim.close());
    const env = { VALID_API_KEYS: KEY, DEEPINFRA_MIRRORS: sim.baseUrl, POOL_SIZE: '1', MAX_RETRIES: '0' };
    const c = await startCluster(t, bin, [{ ...env, MAX_CONCURRENT_CONNECTIONS: '1' }, env, env]);
    const api = client(c.nginx.origin);
    const held: AbortController[] = [];
    t.teardown(() => held.forEach((ac) => ac.abort()));
    const model = 'sim/stall;after=1';
    let shed: APIError | null = null;
    // least_conn spreads stalled streams; the instance with one slot refuses the first one beyond it.
    for (let n = 0; n < 12 && shed === null; n++) {
      const ac = new AbortController();
      try {
        const { first } = consume(await api.chat.completions.create({ ...chat(model), stream: true }, { signal: ac.signal }));
        await first;
        held.push(ac);
      } catch (e) {
        if (!(e instanceof APIError)) throw e;
        shed = e;
      }
    }
    t.ok(shed, `a request was shed after ${held.length} held streams`);
    if (!shed) return;
    t.equal(shed.status, 503);
    t.match(shed.headers?.get('content-type'), /^application\/json/);
    const retryAfter = Number(shed.headers?.get('retry-after'));
    t.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter}`);
    t.ok(shed.headers?.get('x-request-id'), 'the instance’s own answer (x-request-id), not an nginx page');
    t.ok(typeof shed.type === 'string' && typeof shed.message === 'string' && shed.code, `OpenAI-shaped: ${shed.message}`);

    const status = await Promise.all(c.instances.map(async (i) => (await getJson(`${i.origin}/status`)).body));
    t.same(status.map((s) => s.shed_count), [1, 0, 0], 'deepinfra-1 shed it');
    t.ok(Number(status[1]!.current_connections) + Number(status[2]!.current_connections) > 0, 'while the others had room: nginx did not retry');
    const line = c.nginx.accessLog().split('\n').find((l) => / 503 /.test(l));
    t.match(line, new RegExp(`up=127\\.0\\.0\\.1:${c.instances[0]!.port} up_status=503 `), 'one upstream tried');

    let pending = held.length;
    const allAborted = new Promise<void>((resolve) => {
      const on = (e: SimAbortEvent): void => {
        if (e.model !== model || --pending > 0) return;
        sim.off('abort', on);
        resolve();
      };
      sim.on('abort', on);
    });
    held.splice(0).forEach((ac) => ac.abort());
    await allAborted;
    const after = await api.chat.completions.create(chat('sim/echo;tokens=2'));
    t.ok(after.choices[0]?.message.content, 'requests succeed once the streams are gone');
    const seen = new Set<string>();
    for (let n = 0; n < 6; n++) seen.add(String((await getJson(`${c.nginx.origin}/status`)).body.instance_id));
    t.ok(seen.has('deepinfra-1'), 'the shedding instance was not ejected');
  });

  void t.test('SIGTERM drains one instance behind nginx', async (t) => {
    const sim = await startSimulator();
    t.teardown(() => sim.close());
    const env = { VALID_API_KEYS: KEY, DEEPINFRA_MIRRORS: sim.baseUrl, POOL_SIZE: '1', MAX_RETRIES: '0' };
    const c = await startCluster(t, bin, [env, env, env]);
    const api = client(c.nginx.origin);
    const tokens = 30;
    const streams = [];
    for (let n = 0; n < 3; n++) {
      const s = consume(await api.chat.completions.create({ ...chat(`sim/echo;tokens=${tokens};interval=100`), stream: true }));
      await s.first;
      streams.push(s);
    }
    const load = await Promise.all(c.instances.map(async (i) => Number((await getJson(`${i.origin}/status`)).body.current_connections)));
    t.same(load, [1, 1, 1], 'least_conn put one stream on each instance');
    // Steady traffic beside the streams: nginx keeps idle upstream connections to every instance.
    for (let n = 0; n < 9; n++) await api.chat.completions.create(chat('sim/echo;tokens=1'));
    const victim = c.instances[0]!;
    victim.kill('SIGTERM');
    await victim.waitFor(/"msg":"shutting down: draining/);
    const statuses: number[] = [];
    for (let n = 0; n < 12; n++) {
      const r = await api.chat.completions.create(chat('sim/echo;tokens=2')).then(() => 200, (e: unknown) => (e instanceof APIError ? (e.status ?? 0) : -1));
      statuses.push(r);
    }
    const outcomes = await Promise.all(streams.map((s) => s.done));
    for (const o of outcomes) t.same([o.error, o.finish, o.chunks >= tokens], [null, 'stop', true], 'every stream finishes, the draining one too');
    t.same(await victim.exited, { code: 0, signal: null }, 'the drained instance exits 0');
    t.ok(statuses.every((s) => s === 200 || s === 503), `requests during the drain: ${statuses.join(', ')}`);
    t.same(statuses.filter((s) => s !== 200), [], 'no request is refused while one instance drains (it serves them and closes the connection)');
  });
}
