// MODEL_ALIASES (`alias=target,…`) as config.ts reads it: a frozen alias → target map, or a message naming what is wrong.
import { z } from 'zod';

/** Model names as the routes accept them (validate.ts): 1..256 characters. */
const MAX_NAME = 256;

/**
 * Each entry is `alias=target`, split at its first `=` (a target may contain `=`, as simulator names do; an alias
 * may not). Names are trimmed; an alias appears once, differs from its target, and is no other alias's target
 * (one rewrite, never a chain).
 */
export const modelAliases = z.string().transform((raw, ctx) => {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const fail = (message: string): never => {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    return z.NEVER;
  };
  for (const entry of raw.split(',').map((x) => x.trim()).filter((x) => x.length > 0)) {
    const eq = entry.indexOf('=');
    if (eq < 0) return fail(`"${entry.slice(0, 60)}" is not alias=target`);
    const alias = entry.slice(0, eq).trim();
    const target = entry.slice(eq + 1).trim();
    if (alias === '' || target === '') return fail(`"${entry.slice(0, 60)}" needs a name on both sides of =`);
    if (alias.length > MAX_NAME || target.length > MAX_NAME) return fail(`model names are at most ${MAX_NAME} characters`);
    if (alias === target) return fail(`"${alias}" is an alias of itself`);
    if (alias in out) return fail(`"${alias}" is given twice`);
    out[alias] = target;
  }
  for (const [alias, target] of Object.entries(out)) {
    if (target in out) return fail(`the target of "${alias}" ("${target}") is itself an alias: aliases are not chained`);
  }
  return Object.freeze({ ...out }) as Readonly<Record<string, string>>;
});
