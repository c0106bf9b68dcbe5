// Cluster harness: real nginx (the committed nginx.conf, rendered for a temp dir) in front of service processes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/start-command.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const NGINX_CONF = join(ROOT, 'nginx.conf');
export const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
/** Bound for a process to print its first line or exit (a failure, never a synchronisation delay). */
const START_LIMIT_MS = 30_000;

export function findNginx(): string | null {
  return NGINX_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** A port nothing listens on right now (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface RenderOptions {
  /** Service name in nginx.conf (deepinfra-1) → local port. */
  readonly backends: ReadonlyMap<string, number>;
  readonly listenPort: number;
  /** Holds the pid file, logs and temp dirs instead of /var/run, /var/log/nginx, /var/cache/nginx. */
  readonly dir: string;
}

/**
 * Rewrites only what a non-root local run needs: upstream host names, the listen port and root-owned paths.
 * Throws if any of them is missing, so a drifting nginx.conf fails the test instead of running unrendered.
 */
export function renderNginxConf(source: string, o: RenderOptions): string {
  const rules: Array<[RegExp, string]> = [
    [/^(\s*listen\s+)80;/gm, `$1127.0.0.1:${o.listenPort};`],
    [/\/var\/run\/nginx\.pid/g, join(o.dir, 'nginx.pid')],
    [/\/var\/log\/nginx\//g, join(o.dir, 'logs') + '/'],
    [/\/var\/cache\/nginx\//g, join(o.dir, 'cache') + '/'],
  ];
  for (const [name, port] of o.backends) {
    rules.push([new RegExp(`^(\\s*server\\s+)${name.replace(/[.-]/g, '\\$&')}:8000(?=[\\s;])`, 'gm'), `$1127.0.0.1:${port}`]);
  }
  let out = source;
  for (const [re, to] of rules) {
    const next = out.replace(re, to);
    if (next === out) throw new Error(`nginx.conf render: nothing matched ${re.source}`);
    out = next;
  }
  const left = /deepinfra-\d+:8000|\/var\/(run|log|cache)\//.exec(out);
  if (left) throw new Error(`nginx.conf render: "${left[0]}" left unrendered`);
  return out;
}

export interface Nginx {
  readonly bin: string;
  readonly port: number;
  readonly origin: string;
  readonly confPath: string;
  readonly proc: ChildProcess;
  /** error.log so far (for failure messages). */
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

/** Prepares a temp prefix for nginx: world-traversable so `nobody` workers (root runs) can use the temp dirs. */
export function nginxDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'logs'));
  mkdirSync(join(dir, 'cache'));
  chmodSync(join(dir, 'cache'), 0o777);
  return dir;
}

/** `nginx -t` on a config file. */
export function nginxTest(bin: string, confPath: string, dir: string): { ok: boolean; output: string } {
  const r = spawnSync(bin, ['-t', '-c', confPath, '-p', dir, '-e', join(dir, 'logs', 'error.log')], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** Starts nginx in the foreground; resolves once its pid file exists (written after the listen sockets are open). */
export async function startNginx(bin: string, confText: string, dir: string, port: number): Promise<Nginx> {
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, confText);
  const pidFile = join(dir, 'nginx.pid');
  const watcher = watch(dir);
  const proc = spawn(bin, ['-c', confPath, '-p', dir, '-e', join(dir, 'logs', 'error.log'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const read = (name: string): string => (existsSync(join(dir, 'logs', name)) ? readFileSync(join(dir, 'logs', name), 'utf8') : '');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`nginx did not start in ${START_LIMIT_MS} ms: ${output}${read('error.log')}`)), START_LIMIT_MS);
      const check = (): void => {
        if (existsSync(pidFile)) done();
      };
      const onExit = (code: number | null): void => done(new Error(`nginx exited (${code}) at start: ${output}${read('error.log')}`));
      function done(err?: Error): void {
        clearTimeout(timer);
        watcher.off('change', check);
        proc.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      }
      watcher.on('change', check);
      proc.once('exit', onExit);
      check();
    });
  } finally {
    watcher.close();
  }
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    bin,
    port,
    origin: `http://127.0.0.1:${port}`,
    confPath,
    proc,
    errorLog: () => output + read('error.log'),
    accessLog: () => read('access.log'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Instance {
  readonly id: string;
  readonly port: number;
  readonly origin: string;
  readonly proc: ChildProcess;
  /** Every stdout/stderr line so far. */
  readonly lines: string[];
  /** Resolves with the exit code or signal when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the next (or an earlier) output line matching `re`, e.g. a log message. */
  waitFor(re: RegExp): Promise<string>;
}

/**
 * Starts `node NODE_FLAGS dist/src/main.js` (as npm start does) with exactly `env` (plus PATH), cwd `cwd` (so a stray ./.env is not
 * read), and resolves with the port from its "deepinfra-proxy listening" log line.
 */
export async function startInstance(id: string, env: Record<string, string>, cwd: string): Promise<Instance> {
  const proc = spawn(process.execPath, [...NODE_FLAGS, MAIN_JS], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', HOST: '127.0.0.1', INSTANCE_ID: id, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const onLine = (l: string): void => {
    lines.push(l);
    for (const w of waiters) {
      if (!w.re.test(l)) continue;
      waiters.delete(w);
      w.resolve(l);
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  createInterface({ input: proc.stderr! }).on('line', onLine);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "listening" line in ${START_LIMIT_MS} ms`), START_LIMIT_MS);
    const rl = createInterface({ input: proc.stdout! });
    function fail(why: string): void {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`instance ${id}: ${why}\n${lines.join('\n')}`));
    }
    rl.on('line', (l) => {
      onLine(l);
      let rec: { msg?: unknown; port?: unknown };
      try {
        rec = JSON.parse(l) as typeof rec;
      } catch {
        return;
      }
      if (rec.msg === 'deepinfra-proxy listening' && typeof rec.port === 'number') {
        clearTimeout(timer);
        resolve(rec.port);
      }
    });
    void exited.then(({ code, signal }) => fail(`exited (${code ?? signal}) before listening`));
  });
  return {
    id,
    port,
    origin: `http://127.0.0.1:${port}`,
    proc,
    lines,
    exited,
    kill(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    waitFor(re) {
      const seen = lines.find((l) => re.test(l));
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.add({ re, resolve }));
    },
  };
}

export interface Cluster {
  readonly nginx: Nginx;
  readonly instances: readonly Instance[];
  readonly dir: string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Starts one instance per env (ids deepinfra-1..N), renders the committed nginx.conf onto them and starts nginx.
 * Everything is stopped and removed in teardown.
 */
export async function startCluster(t: Teardown, bin: string, envs: ReadonlyArray<Record<string, string>>): Promise<Cluster> {
  const dir = nginxDir();
  const instances: Instance[] = [];
  let nginx: Nginx | null = null;
  t.teardown(async () => {
    await nginx?.stop();
    for (const i of instances) i.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exited));
    rmSync(dir, { recursive: true, force: true });
  });
  for (const [n, env] of envs.entries()) instances.push(await startInstance(`deepinfra-${n + 1}`, env, dir));
  const listenPort = await freePort();
  const conf = renderNginxConf(readFileSync(NGINX_CONF, 'utf8'), {
    backends: new Map(instances.map((i) => [i.id, i.port])),
    listenPort,
    dir,
  });
  nginx = await startNginx(bin, conf, dir, listenPort);
  return { nginx, instances, dir };
}

// ---------------------------------------------------------------------------------------------------------------
// A small nginx.conf reader for static checks: statements and blocks, aware of quotes and comments.

interface Stmt {
  readonly name: string;
  readonly args: string;
  /** Body range for a block statement (`name args { ... }`). */
  readonly body?: { readonly open: number; readonly close: number };
}

/** Collapses whitespace outside quotes and trims. */
function normalise(s: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      out += ch;
      if (ch === '\\' && i + 1 < s.length) out += s[++i];
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      out += ch;
    } else if (/\s/.test(ch)) {
      if (out.length > 0 && !out.endsWith(' ')) out += ' ';
    } else out += ch;
  }
  return out.trim();
}

function statement(buf: string, body?: Stmt['body']): Stmt {
  const text = normalise(buf);
  const sp = text.indexOf(' ');
  const name = sp === -1 ? text : text.slice(0, sp);
  const args = sp === -1 ? '' : text.slice(sp + 1);
  return body ? { name, args, body } : { name, args };
}

/** Every statement at any depth, in order. */
export function scanNginx(text: string): Stmt[] {
  const out: Stmt[] = [];
  const open: Array<{ buf: string; at: number; index: number }> = [];
  let buf = '';
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      buf += ch;
      if (ch === '\\' && i + 1 < text.length) buf += text[++i];
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      buf += '\n';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      buf += ch;
    } else if (ch === ';') {
      out.push(statement(buf));
      buf = '';
    } else if (ch === '{') {
      open.push({ buf, at: i + 1, index: out.length });
      out.push(statement(buf));
      buf = '';
    } else if (ch === '}') {
      const o = open.pop();
      if (!o) throw new Error(`nginx.conf: unbalanced } at ${i}`);
      out[o.index] = statement(o.buf, { open: o.at, close: i });
      buf = '';
    } else buf += ch;
  }
  if (open.length > 0 || quote) throw new Error('nginx.conf: unbalanced { or quote');
  return out;
}

/** Blocks named `keyword` (location, upstream, server, ...) with their args and raw body text. */
export function blocks(text: string, keyword: string): Array<{ args: string; body: string }> {
  return scanNginx(text)
    .filter((s) => s.name === keyword && s.body)
    .map((s) => ({ args: s.args, body: text.slice(s.body!.open, s.body!.close) }));
}

/** The args of every simple directive `name` in `text` (at any depth). */
export function directives(text: string, name: string): string[] {
  return scanNginx(text)
    .filter((s) => s.name === name && !s.body)
    .map((s) => s.args);
}
