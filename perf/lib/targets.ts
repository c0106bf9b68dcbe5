// The targets under test: direct (the upstream itself), nginx, this service as it defaults, with POOL_SIZE=0 and with POOL_SIZE=2, as the image starts it, another build of it, the Go version it replaces, and the floor (uWS + undici alone).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, getJson, start, stop, track, waitHttp, type Spawned } from './children.js';
import { NGINX_BIN, nginxAvailable, writeNginxConf } from './nginx.js';
import { childPids, fdLimit, mapsOf } from './proc.js';
import type { SimProc } from './sim.js';
import { NODE_FLAGS } from '../../src/start-command.js';

export const TARGETS = ['direct', 'nginx', 'default', 'pool0', 'pool', 'image', 'before0', 'before', 'go', 'floor', 'rawfloor'] as const;
export type TargetName = (typeof TARGETS)[number];
/** The service targets (this code, three settings and the image's start; `before*`: another build of it, --before DIR). */
export const SERVICE_TARGETS: readonly TargetName[] = ['default', 'pool0', 'pool', 'image', 'before0', 'before'];
/** Targets run only when named (they need --before, or --go; image: the default started as the image starts it; floor: a yardstick). */
export const NAMED_ONLY: readonly TargetName[] = ['image', 'before0', 'before', 'go', 'floor', 'rawfloor'];
/** The targets that run another build of this service (--before DIR). */
const BEFORE: readonly TargetName[] = ['before0', 'before'];
export const isService = (name: string): boolean => (SERVICE_TARGETS as readonly string[]).includes(name);

/** What each service target sets: `default` sets no POOL_SIZE at all (the service picks; see its /status pool.size). */
export const TARGET_ENV: Readonly<Record<string, Record<string, string>>> = {
  default: {},
  pool0: { POOL_SIZE: '0' },
  pool: { POOL_SIZE: '2' },
  image: {},
  before0: { POOL_SIZE: '0' },
  before: { POOL_SIZE: '2' },
};

/** Column headings in the issue's words. */
export const TARGET_LABEL: Readonly<Record<string, string>> = {
  direct: 'direct', nginx: 'nginx', default: 'default', pool0: 'POOL_SIZE=0', pool: 'pool (POOL_SIZE=2)',
  image: 'image (entrypoint: jemalloc)',
  before0: 'before, POOL_SIZE=0', before: 'before, POOL_SIZE=2', go: 'Go version', floor: 'floor (uWS + undici alone)', rawfloor: 'raw floor (uWS + node:net, no undici)',
};

export interface TargetOptions {
  /** nginx worker_processes (default 1; 0 = auto). */
  nginxWorkers?: number;
  /** A checkout of another build of the service (its dist/ built), for the before* targets. */
  beforeDir?: string;
  /** A binary of the Go version (james-6-23/Deepinfra2api, go-version/: `go build`), for the go target. */
  goBin?: string;
  /** Request logs on (--logs): nginx's access_log (combined) to a file, the service at its default LOG_LEVEL (stdout). */
  logs?: boolean;
  /** The name the service and the Go version reach the upstream by (--upstream-host), instead of 127.0.0.1. */
  upstreamHost?: string;
}

export interface Target {
  name: TargetName;
  /** http://127.0.0.1:PORT — POST {origin}/v1/chat/completions. */
  origin: string;
  /** The processes whose CPU and RSS count as the proxy's (empty for direct). */
  pids(): number[];
  /** The service's pid, whose main thread (tid == pid) is split from its other threads; undefined for nginx and direct. */
  mainPid: number | undefined;
  /** For the service: its GET /status document (null when it does not answer). */
  status(): Promise<Record<string, unknown> | null>;
  /** One line on how the target runs (e.g. the pool size the default chose). */
  describe: string;
  /** The service runs its worker code on the main thread (/status pool.inline): POOL_SIZE=0, or the default on ≤ 2 cores. */
  inline: boolean;
  /** null while running; else why it stopped plus the tail of its output. */
  exited(): string | null;
  close(): Promise<void>;
}

/** Same code as `npm start` (node NODE_FLAGS dist/src/main.js), under another path (see svc-entry.ts). */
const MAIN = fileURLToPath(new URL('./svc-entry.js', import.meta.url));
/** The image's entrypoint (jemalloc preloaded when installed, the V8 heap capped from MEMORY_LIMIT_MB): target image. */
const ENTRYPOINT = fileURLToPath(new URL('../../../deploy/entrypoint.sh', import.meta.url));
/** The floor target's server (perf/lib/floor.ts). */
const FLOOR = fileURLToPath(new URL('./floor.js', import.meta.url));

/** The node flags of another build's own `npm start` ("node <flags> dist/src/main.js"), so it runs as it was shipped. */
function startFlags(dir: string): string[] {
  try {
    const start = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: { start?: string } }).scripts?.start ?? '';
    const words = start.trim().split(/\s+/);
    if (words[0] === 'node') return words.slice(1).filter((w) => w.startsWith('--'));
  } catch {
    /* no package.json: plain node */
  }
  return [];
}

/** Why a target cannot run here, or null. */
export function unavailable(name: TargetName, opts: TargetOptions = {}): string | null {
  if (name === 'nginx' && !nginxAvailable()) return `${NGINX_BIN} not found (apt-get install -y nginx): nginx skipped`;
  if (BEFORE.includes(name) && opts.beforeDir === undefined) return `${name} needs --before DIR (a checkout with dist/ built): skipped`;
  if (name === 'go' && opts.goBin === undefined) return 'go needs --go BIN (a build of the Go version): skipped';
  return null;
}

function exitInfo(s: Spawned): string | null {
  const { exitCode, signalCode } = s.child;
  if (exitCode === null && signalCode === null) return null;
  return `exited (${signalCode ?? `code ${exitCode}`}): ${s.output().trim().split('\n').slice(-5).join(' | ')}`;
}

const noStatus = async (): Promise<null> => null;
/** What a child process keeps of the bench's own environment (the rest is set per target). */
const inherited = (): Record<string, string> => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' });

/** A target's close(): its process stopped (SIGTERM, then SIGKILL after `graceMs`), then its scratch folder removed. */
function closer(s: Spawned, dir: string, graceMs: number): () => Promise<void> {
  return async () => {
    await stop(s.child, 'SIGTERM', graceMs);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** The upstream's URL with its address replaced by --upstream-host's name, when given. */
function named(url: string, opts: TargetOptions): string {
  return opts.upstreamHost ? url.replace('//127.0.0.1:', `//${opts.upstreamHost}:`) : url;
}

/** Starts a target in front of `sim`; `env` adds settings for the service targets. */
export async function startTarget(name: TargetName, sim: SimProc, env: Record<string, string> = {}, opts: TargetOptions = {}): Promise<Target> {
  if (name === 'direct') {
    return { name, origin: sim.origin, pids: () => [], mainPid: undefined, status: noStatus, describe: `the ${sim.kind} upstream itself`, inline: false, exited: () => null, close: async () => {} };
  }
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  if (name === 'nginx') {
    const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    const workers = opts.nginxWorkers ?? 1;
    const conf = writeNginxConf(dir, port, sim.port, Math.min(fdLimit(), 65536), workers, opts.logs === true);
    const s = start(NGINX_BIN, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off; master_process on;']);
    track(s.child);
    await waitHttp(`${origin}/bench-ready`, s);
    const group = [s.pid, ...childPids(s.pid)];
    return {
      name, origin, pids: () => group, mainPid: undefined, status: noStatus,
      describe: `nginx ${workers > 0 ? workers : 'auto'} worker(s), proxy_pass, proxy_buffering off, ${opts.logs === true ? 'access_log (combined) to a file' : 'access_log off'}`, inline: false, exited: () => exitInfo(s),
      close: closer(s, dir, 5000),
    };
  }
  if (name === 'go') return startGo(sim, port, origin, opts.goBin ?? 'deepinfra-go', opts);
  if (name === 'floor' || name === 'rawfloor') return startFloor(name, sim, port, origin, env, opts);
  const cwd = mkdtempSync(join(tmpdir(), 'bench-proxy-')); // no stray ./.env
  const before = BEFORE.includes(name);
  const script = before ? join(opts.beforeDir ?? '.', 'dist', 'src', 'main.js') : MAIN;
  const args = [...(before ? startFlags(opts.beforeDir ?? '.') : NODE_FLAGS), script];
  const serviceEnv: Record<string, string> = {
    ...inherited(),
    PORT: String(port),
    HOST: '127.0.0.1',
    DEEPINFRA_MIRRORS: named(sim.baseUrl, opts),
    LOG_LEVEL: opts.logs === true ? 'info' : 'warn', // info: the default, one line per request
    MAX_CONCURRENT_CONNECTIONS: '20000',
    VALID_API_KEYS: 'linux.do',
    SHUTDOWN_GRACE_MS: '1000',
    // node flags for the service under test (e.g. --max-semi-space-size=N), from the bench's own environment
    ...(process.env['BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] } : {}),
    // the before* targets only (an A/B of node flags on one build: --before pointing at this checkout)
    ...(before && process.env['BENCH_BEFORE_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_BEFORE_NODE_OPTIONS'] } : {}),
    // more environment for the service under test (e.g. allocator settings), as JSON
    ...(process.env['BENCH_SERVICE_ENV'] ? (JSON.parse(process.env['BENCH_SERVICE_ENV']) as Record<string, string>) : {}),
    // the before* targets only (an A/B of environment on one build, e.g. an allocator)
    ...(before && process.env['BENCH_BEFORE_SERVICE_ENV'] ? (JSON.parse(process.env['BENCH_BEFORE_SERVICE_ENV']) as Record<string, string>) : {}),
    ...TARGET_ENV[name],
    ...env,
  };
  // image: the entrypoint execs node (the first on PATH), so the pid is node's
  const s = name === 'image'
    ? start('sh', [ENTRYPOINT, 'node', ...args], { cwd, env: serviceEnv })
    : start(process.execPath, args, { cwd, env: serviceEnv });
  track(s.child);
  await waitHttp(`${origin}/status`, s);
  const status = (): Promise<Record<string, unknown> | null> => getJson(`${origin}/status`);
  const pool = (await status())?.['pool'] as { size?: unknown; inline?: unknown } | undefined;
  const set = TARGET_ENV[name]?.['POOL_SIZE'] ?? env['POOL_SIZE'];
  return {
    name, origin, pids: () => [s.pid], mainPid: s.pid, status,
    describe: `service, POOL_SIZE ${set === undefined ? 'unset' : `=${set}`}: /status pool.size ${String(pool?.size ?? '?')}${pool?.inline === true ? ' (inline)' : ''}, LOG_LEVEL=${serviceEnv['LOG_LEVEL'] ?? '?'}, upstream ${serviceEnv['DEEPINFRA_MIRRORS'] ?? '?'}`
      + (name === 'image' ? `, started by deploy/entrypoint.sh: ${mapsOf(s.pid).includes('libjemalloc') ? 'jemalloc preloaded' : 'glibc malloc (libjemalloc2 not installed)'}` : ''),
    inline: pool?.inline === true,
    exited: () => exitInfo(s),
    close: closer(s, cwd, 8000),
  };
}

/** The floor: uWS in front of undici and nothing else (perf/lib/floor.ts), with the service's node flags; rawfloor: with perf/lib/raw-client.ts instead of undici. */
async function startFloor(name: 'floor' | 'rawfloor', sim: SimProc, port: number, origin: string, env: Record<string, string>, opts: TargetOptions): Promise<Target> {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-floor-'));
  const s = start(process.execPath, [...NODE_FLAGS, FLOOR], {
    cwd,
    env: {
      ...inherited(), ...env, PORT: String(port), HOST: '127.0.0.1', UPSTREAM: named(sim.baseUrl, opts),
      FLOOR_CLIENT: name === 'rawfloor' ? 'raw' : 'undici',
    },
  });
  track(s.child);
  await waitHttp(`${origin}/health`, s);
  return {
    name, origin, pids: () => [s.pid], mainPid: s.pid, status: noStatus,
    describe: `the ${name === 'rawfloor' ? 'raw floor: uWS in front of a hand-parsed HTTP/1.1 client on node:net (perf/lib/raw-client.ts)' : 'floor: uWS in front of undici'} and nothing else (perf/lib/floor.ts), one thread, upstream ${named(sim.baseUrl, opts)}`,
    inline: false,
    exited: () => exitInfo(s),
    close: closer(s, cwd, 8000),
  };
}

/**
 * The Go version with the settings it shares with this service, in its default PERFORMANCE_MODE (balanced), with
 * its random delay before each upstream request set to 0 and its detailed logging off. (PERFORMANCE_MODE=fast
 * would also cut its whole-exchange timeout to 10 s, which cut streams of a saturated burst.) Its
 * DEEPINFRA_MIRRORS entries are whole endpoint URLs, and it answers GET /health.
 */
async function startGo(sim: SimProc, port: number, origin: string, bin: string, opts: TargetOptions): Promise<Target> {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-go-'));
  const s = start(bin, [], {
    cwd,
    env: {
      ...inherited(),
      PORT: String(port),
      DEEPINFRA_MIRRORS: `${named(sim.baseUrl, opts)}/chat/completions`,
      VALID_API_KEYS: 'linux.do',
      MAX_CONCURRENT_CONNECTIONS: '20000',
      CONNECTION_QUEUE_SIZE: '20000',
      RANDOM_DELAY_MIN: '0',
      RANDOM_DELAY_MAX: '0',
      ENABLE_DETAILED_LOGGING: 'false',
      MEMORY_LIMIT_MB: '16384',
    },
  });
  track(s.child);
  await waitHttp(`${origin}/health`, s);
  return {
    name: 'go', origin, pids: () => [s.pid], mainPid: undefined, status: noStatus,
    describe: `the Go version (${bin}), PERFORMANCE_MODE balanced (its default), no random delay, detailed logging off, upstream ${named(sim.baseUrl, opts)}`,
    inline: false,
    exited: () => exitInfo(s),
    close: closer(s, cwd, 8000),
  };
}
