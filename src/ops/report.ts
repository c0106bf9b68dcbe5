// Check results shared by preflight and verify: PASS/WARN/FAIL lines, JSON output and the exit code.
export type Verdict = 'PASS' | 'WARN' | 'FAIL';

export interface CheckResult {
  readonly status: Verdict;
  /** Short name of the check, e.g. `fd-limit`. */
  readonly check: string;
  readonly reason: string;
  /** Measured values behind the verdict, for --json. */
  readonly data?: Readonly<Record<string, unknown>>;
}

export const pass = (check: string, reason: string, data?: Record<string, unknown>): CheckResult => ({ status: 'PASS', check, reason, data });
export const warn = (check: string, reason: string, data?: Record<string, unknown>): CheckResult => ({ status: 'WARN', check, reason, data });
export const fail = (check: string, reason: string, data?: Record<string, unknown>): CheckResult => ({ status: 'FAIL', check, reason, data });

/** One line per check: `PASS <check>: <reason>`. */
export function formatLine(r: CheckResult): string {
  return `${r.status} ${r.check}: ${r.reason}`;
}

/** 1 when any check failed, 0 otherwise (warnings do not fail a deployment). */
export function exitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}

export function summary(results: readonly CheckResult[]): { pass: number; warn: number; fail: number } {
  const n = (v: Verdict): number => results.filter((r) => r.status === v).length;
  return { pass: n('PASS'), warn: n('WARN'), fail: n('FAIL') };
}

/** Prints the results as lines or one JSON document, and returns the exit code. */
export function printResults(results: readonly CheckResult[], json: boolean, out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const code = exitCode(results);
  if (json) out(JSON.stringify({ ok: code === 0, summary: summary(results), checks: results }, null, 2) + '\n');
  else {
    for (const r of results) out(formatLine(r) + '\n');
    const s = summary(results);
    out(`${code === 0 ? 'OK' : 'NOT OK'}: ${s.pass} passed, ${s.warn} warned, ${s.fail} failed\n`);
  }
  return code;
}

/** The message of any thrown value, with a network error's cause (fetch hides it there). */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: unknown }).cause;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out (${e.message})`;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return `${e.message}: ${code ? `${code} ` : ''}${cause.message}`;
  }
  return e.message;
}
