// `npm run verify -- URL`: the after-deployment checklist against a running instance or cluster.
import { parseArgs } from 'node:util';
import { checkHealth, checkReady, checkStream, fetchStatus, judgeMemory } from './verify-checks.js';
import { checkBurst, planBurst } from './verify-burst.js';
import { get, isRecord, normaliseBase, type Target } from './target.js';
import { numberFlag } from './preflight-cli.js';
import { printResults, warn, type CheckResult } from './report.js';

export const SIM_MODEL = 'sim/echo;tokens=40;interval=50';
export const DEFAULT_MODEL = 'meta-llama/Meta-Llama-3.1-8B-Instruct';

export const VERIFY_USAGE = `usage: npm run verify -- <baseUrl> [--key K] [--model M] [--burst N] [--no-burst] [--status-token T] [--timeout MS] [--json]
Checks a running instance (or a cluster through its nginx) after deployment; exit code 1 on any FAIL.
--key defaults to linux.do. Against the simulator the model defaults to ${SIM_MODEL} and the burst is sized from
/status; against a real upstream --burst N is required for the concurrency check (it spends real tokens).`;

const OPTIONS = {
  key: { type: 'string' },
  model: { type: 'string' },
  burst: { type: 'string' },
  'no-burst': { type: 'boolean' },
  'status-token': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** True when the upstream behind the target is the simulator (its model list has sim/ models). */
async function behindSimulator(t: Target): Promise<boolean> {
  try {
    const g = await get(t, '/v1/models', 'key');
    return isRecord(g.json) && Array.isArray(g.json.data) && g.json.data.some((m) => isRecord(m) && typeof m.id === 'string' && m.id.startsWith('sim/'));
  } catch {
    return false;
  }
}

export async function runVerify(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let values: Record<string, unknown>;
  let positionals: string[];
  let t: Target;
  let burst: number | undefined;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true }));
    if (values.help) {
      out(VERIFY_USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new RangeError('give exactly one base URL, e.g. http://localhost:8000');
    burst = numberFlag(values, 'burst');
    if (burst !== undefined && (!Number.isInteger(burst) || burst < 1)) throw new RangeError('--burst must be a positive integer');
    t = {
      base: normaliseBase(positionals[0]!),
      key: typeof values.key === 'string' ? values.key : 'linux.do',
      statusToken: typeof values['status-token'] === 'string' ? values['status-token'] : undefined,
      timeoutMs: numberFlag(values, 'timeout') ?? 30_000,
    };
  } catch (e) {
    out(`verify: ${(e as Error).message}\n${VERIFY_USAGE}\n`);
    return 2;
  }
  return printResults(await verifyChecks(t, { model: values.model as string | undefined, burst, noBurst: values['no-burst'] === true }), values.json === true, out);
}

export interface VerifyOptions {
  readonly model?: string;
  readonly burst?: number;
  readonly noBurst?: boolean;
}

export async function verifyChecks(t: Target, o: VerifyOptions = {}): Promise<CheckResult[]> {
  const health = await checkHealth(t);
  if (health.status === 'FAIL' && health.reason.startsWith('cannot reach')) return [health];
  const results: CheckResult[] = [health, await checkReady(t)];
  const first = await fetchStatus(t);
  results.push(first.result);
  const sim = await behindSimulator(t);
  const model = o.model ?? (sim ? SIM_MODEL : DEFAULT_MODEL);
  results.push(await checkStream(t, model));
  if (o.noBurst) results.push(warn('concurrency-limit', 'skipped (--no-burst)'));
  else if (!first.status) results.push(warn('concurrency-limit', 'skipped: no /status to size the burst from'));
  else if (!sim && o.burst === undefined) {
    results.push(warn('concurrency-limit', 'skipped: the upstream is real, pass --burst N (N streams past the shed threshold; spends tokens)'));
  } else {
    const now = await fetchStatus(t);
    const s = now.status ?? first.status;
    results.push(await checkBurst(t, model, planBurst(s, o.burst), s.current_connections));
  }
  const last = await fetchStatus(t);
  results.push(judgeMemory(last.status, last.status ? null : last.result));
  return results;
}
