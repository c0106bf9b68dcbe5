// MODEL_ALIASES in the workers: the `model` of a JSON body rewritten in place (nothing else of the bytes changes),
// and the alias entries /v1/models lists beside the upstream's.

export type Aliases = Readonly<Record<string, string>>;

/** The target of `model` when it is an alias (own keys only: `constructor` is no alias), else undefined. */
export function aliasOf(aliases: Aliases, model: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(aliases, model) ? aliases[model] : undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index just past the string token that starts at `i` (its opening quote). */
function skipString(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return b.length;
}

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Index just past the JSON value that starts at `i` (strings skipped, brackets counted). */
function skipValue(b: Uint8Array, i: number): number {
  if (b[i] === QUOTE) return skipString(b, i);
  let depth = 0;
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      i = skipString(b, i) - 1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i;
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && (c === 0x2c || isSpace(c))) return i;
  }
  return i;
}

/**
 * The byte range [start, end) of the top-level `"model"` string value (quotes included) of a body that parsed
 * as a JSON object; the last one when the key repeats (JSON.parse keeps the last). null: none, or not a string.
 */
export function modelSpan(b: Uint8Array): { start: number; end: number } | null {
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; // a UTF-8 BOM
  while (isSpace(b[i])) i++;
  if (b[i] !== 0x7b) return null;
  i++;
  let found: { start: number; end: number } | null = null;
  for (;;) {
    while (isSpace(b[i]) || b[i] === 0x2c) i++;
    if (i >= b.length || b[i] !== QUOTE) return found;
    const keyEnd = skipString(b, i);
    const key = Buffer.from(b.buffer, b.byteOffset + i, keyEnd - i);
    const isModel = key.includes(BACKSLASH) ? JSON.parse(key.toString('utf8')) === 'model' : key.toString('latin1') === '"model"';
    i = keyEnd;
    while (isSpace(b[i]) || b[i] === 0x3a) i++;
    const end = skipValue(b, i);
    if (isModel) found = b[i] === QUOTE ? { start: i, end } : null;
    i = end;
  }
}

/** The body with its top-level model replaced by `target` (a body without one comes back as it was). */
export function rewriteJsonModel(body: Uint8Array, target: string): Uint8Array {
  const span = modelSpan(body);
  if (span === null) return body;
  return Buffer.concat([body.subarray(0, span.start), Buffer.from(JSON.stringify(target)), body.subarray(span.end)]);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

let memo: { readonly list: string; readonly aliases: Aliases; readonly out: string } | null = null;

/**
 * A models list (`{"object":"list","data":[…]}`) with one entry per alias: the target's entry under the alias's
 * id (or a plain one when the upstream does not list the target), with `alias_for` naming the target. An upstream
 * entry with an alias's id is replaced (requests for it go to the target). Not a list: returned as it is.
 */
export function withAliases(list: string, aliases: Aliases): string {
  const names = Object.keys(aliases);
  if (names.length === 0) return list;
  if (memo !== null && memo.list === list && memo.aliases === aliases) return memo.out;
  let v: unknown;
  try {
    v = JSON.parse(list);
  } catch {
    return list;
  }
  if (!isObj(v) || !Array.isArray(v.data)) return list;
  const data = (v.data as unknown[]).filter((m) => !(isObj(m) && typeof m.id === 'string' && aliasOf(aliases, m.id) !== undefined));
  const byId = new Map<string, Obj>();
  for (const m of data) if (isObj(m) && typeof m.id === 'string') byId.set(m.id, m);
  for (const alias of names) {
    const target = aliases[alias]!;
    const base = byId.get(target) ?? { object: 'model', created: 0, owned_by: 'deepinfra-proxy' };
    data.push({ ...base, id: alias, alias_for: target });
  }
  const out = JSON.stringify({ ...v, data });
  memo = { list, aliases, out };
  return out;
}
