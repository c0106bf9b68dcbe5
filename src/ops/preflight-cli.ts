// `npm run preflight`: runs the before-deployment checks, or the capacity calculator with --users.
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { loadUws } from '../http/uws.js';
import { formatPlan, planCapacity, type CapacityInput } from './capacity.js';
import { checkConfig, checkCpus, checkFdLimit, checkMemory, checkMirror, checkNativeUws, checkPort, parseOpenFiles, readText, type Fetcher, type FileReader } from './preflight-checks.js';
import { printResults, type CheckResult } from './report.js';

export const PREFLIGHT_USAGE = `usage: npm run preflight -- [--json] [--skip-network] [--skip-port] [--timeout MS] [--env-file PATH]
       npm run preflight -- --users N --heavy SHARE [--light-seconds 10] [--heavy-seconds 120] [--window 60]
                            [--stream-kb 14] [--base-mb 128] [--cores N] [--fd-limit N] [--per-instance N] [--json]
Checks this machine and the configuration (environment, PROFILE, .env) before a deployment; exit code 1 on any FAIL.
With --users, prints the guide's capacity arithmetic and the recommended settings instead.`;

export interface PreflightDeps {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly read?: FileReader;
  readonly cpus?: () => number;
  readonly uws?: () => { native: boolean; nativeError: string | null };
  readonly fetcher?: Fetcher;
  readonly out?: (s: string) => void;
}

const OPTIONS = {
  json: { type: 'boolean' },
  'skip-network': { type: 'boolean' },
  'skip-port': { type: 'boolean' },
  timeout: { type: 'string' },
  'env-file': { type: 'string' },
  users: { type: 'string' },
  heavy: { type: 'string' },
  'light-seconds': { type: 'string' },
  'heavy-seconds': { type: 'string' },
  window: { type: 'string' },
  'stream-kb': { type: 'string' },
  'base-mb': { type: 'string' },
  cores: { type: 'string' },
  'fd-limit': { type: 'string' },
  'per-instance': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A numeric flag, or undefined when absent; throws naming the flag when it is not a number. */
export function numberFlag(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got "${String(v)}"`);
  return n;
}

/** Runs preflight for argv; returns the exit code (2 for usage errors). */
export async function runPreflight(argv: readonly string[], deps: PreflightDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(s));
  const read = deps.read ?? readText;
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false }).values;
  } catch (e) {
    out(`preflight: ${(e as Error).message}\n${PREFLIGHT_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(PREFLIGHT_USAGE + '\n');
    return 0;
  }
  try {
    if (values.users !== undefined) return calculator(values, read, deps.cpus ?? availableParallelism, out);
    const timeoutMs = numberFlag(values, 'timeout') ?? 5000;
    const results = await preflightChecks({
      ...deps,
      read,
      timeoutMs,
      skipNetwork: values['skip-network'] === true,
      skipPort: values['skip-port'] === true,
      dotenvPath: typeof values['env-file'] === 'string' ? values['env-file'] : '.env',
    });
    return printResults(results, values.json === true, out);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    out(`preflight: ${e.message}\n${PREFLIGHT_USAGE}\n`);
    return 2;
  }
}

export interface PreflightOptions extends PreflightDeps {
  readonly timeoutMs: number;
  readonly skipNetwork?: boolean;
  readonly skipPort?: boolean;
  readonly dotenvPath?: string;
}

/** Every before-deployment check in the guide's order; the rest are skipped when the configuration is invalid. */
export async function preflightChecks(o: PreflightOptions): Promise<CheckResult[]> {
  const { result, config } = checkConfig(o.env ?? undefined, o.dotenvPath ?? '.env');
  if (!config) return [result];
  const results: CheckResult[] = [result];
  results.push(checkFdLimit(config.MAX_CONCURRENT_CONNECTIONS, o.read));
  results.push(checkMemory(config.MEMORY_LIMIT_MB, o.read));
  results.push(checkCpus(config.PROFILE, config.MAX_CONCURRENT_CONNECTIONS, (o.cpus ?? availableParallelism)()));
  results.push(checkNativeUws(o.uws ?? (() => loadUws(false)), config.REQUIRE_NATIVE_UWS));
  if (!o.skipNetwork) {
    results.push(...(await Promise.all(config.DEEPINFRA_MIRRORS.map((m) => checkMirror(m, config.DEEPINFRA_API_KEY, o.timeoutMs, o.fetcher)))));
  }
  if (!o.skipPort) results.push(await checkPort(config.HOST, config.PORT));
  return results;
}

function calculator(values: Record<string, unknown>, read: FileReader, cpus: () => number, out: (s: string) => void): number {
  const heavyShare = numberFlag(values, 'heavy');
  if (heavyShare === undefined) throw new RangeError('--users needs --heavy (the share of heavy users, e.g. 0.3)');
  const limits = read('/proc/self/limits');
  const fdLimit = numberFlag(values, 'fd-limit') ?? (limits === null ? undefined : parseOpenFiles(limits)?.soft);
  const input: CapacityInput = {
    users: numberFlag(values, 'users')!,
    heavyShare,
    lightSeconds: numberFlag(values, 'light-seconds'),
    heavySeconds: numberFlag(values, 'heavy-seconds'),
    windowSeconds: numberFlag(values, 'window'),
    streamKb: numberFlag(values, 'stream-kb'),
    baseMb: numberFlag(values, 'base-mb'),
    cores: numberFlag(values, 'cores') ?? cpus(),
    fdLimit: fdLimit !== undefined && Number.isFinite(fdLimit) ? fdLimit : undefined,
    perInstance: numberFlag(values, 'per-instance'),
  };
  const plan = planCapacity(input);
  if (values.json === true) out(JSON.stringify({ input, plan }, null, 2) + '\n');
  else {
    out(`assuming ${input.cores} cores${input.fdLimit !== undefined ? ` and ulimit -n ${input.fdLimit}` : ''} per instance (--cores, --fd-limit, --per-instance to change)\n`);
    for (const line of formatPlan(plan, input)) out(line + '\n');
  }
  return 0;
}
