// The guide's "before deployment" checks, each a function of its inputs (readers injectable for tests).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadConfig, ConfigError, type Config } from '../config.js';
import { FD_HEADROOM, FDS_PER_STREAM, GUIDE_PROFILES, tableConcurrency } from './capacity.js';
import { errorText, fail, pass, warn, type CheckResult } from './report.js';
import { UWS_REQUIREMENTS } from '../http/uws.js';

/** Reads a file as text, or null when it does not exist or cannot be read. */
export type FileReader = (path: string) => string | null;
export const readText: FileReader = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

export function checkConfig(env?: Readonly<Record<string, string | undefined>>, dotenvPath = '.env'): { result: CheckResult; config: Config | null } {
  try {
    const c = loadConfig(env, dotenvPath);
    const fromEnv = Object.entries(c.sources).filter(([, v]) => v === 'env').length;
    const fromProfile = Object.entries(c.sources).filter(([, v]) => v === 'profile').length;
    return {
      config: c,
      result: pass('config', `valid (PROFILE=${c.PROFILE}, ${fromEnv} set explicitly, ${fromProfile} from the profile, MAX_CONCURRENT_CONNECTIONS=${c.MAX_CONCURRENT_CONNECTIONS}, MEMORY_LIMIT_MB=${c.MEMORY_LIMIT_MB})`, { profile: c.PROFILE, sources: c.sources }),
    };
  } catch (e) {
    const msg = e instanceof ConfigError ? e.message : errorText(e);
    return { config: null, result: fail('config', msg) };
  }
}

/** Soft and hard "Max open files" from /proc/self/limits text (Infinity for unlimited), or null. */
export function parseOpenFiles(limits: string): { soft: number; hard: number } | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) return null;
  const n = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
  const soft = n(m[1]!);
  const hard = n(m[2]!);
  return Number.isNaN(soft) || Number.isNaN(hard) ? null : { soft, hard };
}

export function checkFdLimit(maxConnections: number, read: FileReader = readText): CheckResult {
  const need = maxConnections * FDS_PER_STREAM + FD_HEADROOM;
  const text = read('/proc/self/limits');
  const lim = text === null ? null : parseOpenFiles(text);
  if (!lim) return warn('fd-limit', `cannot read "Max open files" from /proc/self/limits; make sure ulimit -n ≥ ${need}`);
  const data = { soft: lim.soft, hard: lim.hard, need };
  if (lim.soft >= need) return pass('fd-limit', `ulimit -n ${lim.soft} ≥ ${need} (2 × ${maxConnections} streams + ${FD_HEADROOM})`, data);
  const most = Math.floor((lim.soft - FD_HEADROOM) / FDS_PER_STREAM);
  const hint = lim.hard >= need ? `raise the soft limit (hard limit ${lim.hard} allows it: ulimit -n ${need}, or nofile in compose)` : `lower MAX_CONCURRENT_CONNECTIONS to ≤ ${Math.max(0, most)} or raise the hard limit`;
  return fail('fd-limit', `ulimit -n ${lim.soft} < ${need} needed for ${maxConnections} streams (2 fds each + ${FD_HEADROOM}); ${hint}`, data);
}

/** Bytes of a cgroup memory limit file (v2 memory.max or v1 limit_in_bytes); null for none/unlimited. */
export function parseCgroupLimit(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === '' || t === 'max') return null;
  const n = Number(t);
  return Number.isFinite(n) && n > 0 && n < 2 ** 60 ? n : null;
}

export function checkMemory(limitMb: number, read: FileReader = readText): CheckResult {
  const meminfo = read('/proc/meminfo');
  const m = meminfo === null ? null : /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  const availableMb = m ? Math.floor(Number(m[1]) / 1024) : null;
  const cgBytes = parseCgroupLimit(read('/sys/fs/cgroup/memory.max')) ?? parseCgroupLimit(read('/sys/fs/cgroup/memory/memory.limit_in_bytes'));
  const cgroupMb = cgBytes === null ? null : Math.floor(cgBytes / 1048576);
  const data = { memory_limit_mb: limitMb, available_mb: availableMb, cgroup_limit_mb: cgroupMb };
  if (availableMb === null && cgroupMb === null) return warn('memory', `cannot read /proc/meminfo or a cgroup limit; make sure ${limitMb} MB are available`, data);
  if (cgroupMb !== null && cgroupMb < limitMb) {
    return fail('memory', `cgroup memory limit ${cgroupMb} MB < MEMORY_LIMIT_MB ${limitMb}: the kernel would kill the process before it sheds load; lower MEMORY_LIMIT_MB to ~${Math.floor(cgroupMb * 0.8)} or raise the container limit`, data);
  }
  if (availableMb !== null && availableMb < limitMb) {
    return fail('memory', `MemAvailable ${availableMb} MB < MEMORY_LIMIT_MB ${limitMb}`, data);
  }
  const where = `${availableMb !== null ? `MemAvailable ${availableMb} MB` : 'MemAvailable unknown'} (${cgroupMb !== null ? `cgroup limit ${cgroupMb} MB` : 'no cgroup limit'})`;
  if (cgroupMb !== null && limitMb > cgroupMb * 0.9) {
    return warn('memory', `${where}: MEMORY_LIMIT_MB ${limitMb} leaves < 10 % headroom under the cgroup limit (RSS is sampled, it can overshoot)`, data);
  }
  return pass('memory', `${where} ≥ MEMORY_LIMIT_MB ${limitMb}`, data);
}

export function checkCpus(profile: string, maxConnections: number, cpus: number): CheckResult {
  const p = GUIDE_PROFILES.find((x) => x.profile === profile) ?? GUIDE_PROFILES[0];
  const data = { cpus, profile_cores: p.cores };
  if (cpus < p.cores) return fail('cpus', `${cpus} core(s) < ${p.cores} the guide's table asks for the ${p.profile} profile`, data);
  const fits = tableConcurrency(cpus);
  if (maxConnections > fits) {
    return warn('cpus', `${cpus} cores: the guide recommends ≤ ${fits} concurrent streams, MAX_CONCURRENT_CONNECTIONS is ${maxConnections} (measure, or add instances)`, data);
  }
  return pass('cpus', `${cpus} cores ≥ ${p.cores} for the ${p.profile} profile (guide: up to ${fits} streams)`, data);
}

/** `_required` (REQUIRE_NATIVE_UWS) no longer matters: the uWS build in use has no JS fallback to run on. */
export function checkNativeUws(probe: () => { native: boolean; nativeError: string | null }, _required: boolean): CheckResult {
  let r: { native: boolean; nativeError: string | null };
  try {
    r = probe();
  } catch (e) {
    r = { native: false, nativeError: errorText(e) };
  }
  if (r.native) return pass('native-uws', 'the uWebSockets.js native build loads');
  return fail('native-uws', `native build not loaded (${r.nativeError ?? 'unknown error'}): the service will refuse to start; it needs ${UWS_REQUIREMENTS}`);
}

export type Fetcher = (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<{ status: number; body?: { cancel(): Promise<void> } | null }>;

export async function checkMirror(mirror: string, apiKey: string | undefined, timeoutMs: number, fetcher: Fetcher = fetch): Promise<CheckResult> {
  const url = `${mirror}/models`;
  const name = `mirror ${mirror}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const started = performance.now();
  try {
    const res = await fetcher(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => undefined);
    const ms = Math.round(performance.now() - started);
    const data = { status: res.status, ms };
    if (res.status >= 200 && res.status < 300) return pass(name, `GET /models → ${res.status} in ${ms} ms`, data);
    if (res.status === 401 || res.status === 403) return fail(name, `GET /models → ${res.status}: the upstream rejects ${apiKey ? 'DEEPINFRA_API_KEY' : 'requests without DEEPINFRA_API_KEY'}`, data);
    return warn(name, `reachable, but GET /models → ${res.status} in ${ms} ms`, data);
  } catch (e) {
    return fail(name, `GET /models failed: ${errorText(e)}`);
  }
}

/** Tries to listen on host:port (node:net) and closes again. */
export function checkPort(host: string, port: number): Promise<CheckResult> {
  if (port === 0) return Promise.resolve(pass('port', 'PORT=0: the system picks a free port'));
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'already in use' : e.code === 'EACCES' ? 'permission denied (ports < 1024 need privileges)' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : errorText(e);
      resolve(fail('port', `cannot listen on ${host}:${port}: ${why}`, { code: e.code ?? null }));
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(pass('port', `${host}:${port} is free`))));
  });
}
