// The targets under test: direct (the simulator itself), nginx, and this service with POOL_SIZE=0 / the default pool.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, track, waitHttp, type Spawned } from './children.js';
import { NGINX_BIN, nginxAvailable, writeNginxConf } from './nginx.js';
import { childPids, fdLimit } from './proc.js';
import type { SimProc } from './sim.js';

export const TARGETS = ['direct', 'nginx', 'pool0', 'pool'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface Target {
  name: TargetName;
  /** http://127.0.0.1:PORT — POST {origin}/v1/chat/completions. */
  origin: string;
  /** The processes whose CPU and RSS count as the proxy's (empty for direct). */
  pids(): number[];
  /** null while running; else why it stopped plus the tail of its output. */
  exited(): string | null;
  close(): Promise<void>;
}

/** Same code as `node --expose-gc dist/src/main.js`, under another path (see svc-entry.ts). */
const MAIN = fileURLToPath(new URL('./svc-entry.js', import.meta.url));

/** Why a target cannot run here, or null. */
export function unavailable(name: TargetName): string | null {
  if (name === 'nginx' && !nginxAvailable()) return `${NGINX_BIN} not found (apt-get install -y nginx): nginx skipped`;
  return null;
}

function exitInfo(s: Spawned): string | null {
  const { exitCode, signalCode } = s.child;
  if (exitCode === null && signalCode === null) return null;
  return `exited (${signalCode ?? `code ${exitCode}`}): ${s.output().trim().split('\n').slice(-5).join(' | ')}`;
}

/** Starts a target in front of `sim`; `env` adds settings for the service targets. */
export async function startTarget(name: TargetName, sim: SimProc, env: Record<string, string> = {}): Promise<Target> {
  if (name === 'direct') return { name, origin: sim.origin, pids: () => [], exited: () => null, close: async () => {} };
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  if (name === 'nginx') {
    const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    const conf = writeNginxConf(dir, port, sim.port, Math.min(fdLimit(), 65536));
    const s = start(NGINX_BIN, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off; master_process on;']);
    track(s.child);
    await waitHttp(`${origin}/bench-ready`, s);
    const group = [s.pid, ...childPids(s.pid)];
    return {
      name, origin, pids: () => group, exited: () => exitInfo(s),
      close: async () => {
        await stop(s.child, 'SIGTERM', 5000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const cwd = mkdtempSync(join(tmpdir(), 'bench-proxy-')); // no stray ./.env
  const s = start(process.execPath, ['--expose-gc', MAIN], {
    cwd,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DEEPINFRA_MIRRORS: sim.baseUrl,
      LOG_LEVEL: 'warn',
      MAX_CONCURRENT_CONNECTIONS: '20000',
      VALID_API_KEYS: 'linux.do',
      SHUTDOWN_GRACE_MS: '1000',
      ...(name === 'pool0' ? { POOL_SIZE: '0' } : {}),
      ...env,
    },
  });
  track(s.child);
  await waitHttp(`${origin}/status`, s);
  return {
    name, origin, pids: () => [s.pid], exited: () => exitInfo(s),
    close: async () => {
      await stop(s.child, 'SIGTERM', 8000);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
