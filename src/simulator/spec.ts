// The model-name grammar: `sim/<behaviour>;key=value;...` → a behaviour and its options.
export const BEHAVIOURS = [
  'echo', 'reasoning', 'tools', 'ping', 'split', 'crlf', 'malformed',
  'error500', 'error429', 'error400', 'error401', 'error403', 'error503',
  'flaky', 'reset', 'close', 'nodone', 'stall', 'huge', 'errorevent', 'gzip',
  'redirect', 'notsse', 'garbage', 'slowheaders', 'long',
] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface SimOptions {
  /** Explicit token count; undefined → behaviour default → request max_tokens → 8. tools: text tokens before
   * the call (none unless given). */
  tokens: number | undefined;
  /** ms between events (0: as fast as backpressure allows); audio/speech: between body writes. */
  interval: number;
  /** Pad each token's content to about this many bytes (huge: the one chunk's size; garbage: body size;
   * audio/speech: the audio body's size). */
  size: number | undefined;
  unicode: boolean;
  /** Event count before the failure behaviours act (audio/speech: body writes). */
  after: number;
  /** ms before the status line and headers. */
  delay: number;
  seed: number;
  /** flaky: how many requests fail first. */
  fail: number;
  /** flaky: the status those failures answer with (default 500). */
  status: number;
  /** reasoning: how many reasoning_content chunks come first. */
  reasoning: number;
  /** tools: how many tool calls one answer makes (streamed one after the other). */
  calls: number;
  /** Overrides the finish_reason of the last chunk. */
  finish: FinishReason | undefined;
}

export interface SimSpec {
  /** The model name exactly as requested (echoed in responses). */
  model: string;
  behaviour: Behaviour;
  opts: SimOptions;
}

const BEHAVIOUR_SET: ReadonlySet<string> = new Set(BEHAVIOURS);
const FINISH_SET: ReadonlySet<string> = new Set(['stop', 'length', 'tool_calls', 'content_filter']);

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

/**
 * Parses a model name. Names not starting with `sim/` (and unknown behaviours) act as `sim/echo`,
 * so real model ids such as `openai/gpt-oss-120b` work against the simulator.
 */
export function parseModel(model: unknown): SimSpec {
  const name = typeof model === 'string' ? model : '';
  const raw: Record<string, string> = {};
  let behaviour: Behaviour = 'echo';
  if (name.startsWith('sim/')) {
    const [head = '', ...pairs] = name.slice(4).split(';');
    if (BEHAVIOUR_SET.has(head)) behaviour = head as Behaviour;
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq > 0) raw[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      else if (pair.trim() !== '') raw[pair.trim()] = '1';
    }
  }
  const unicodeRaw = raw['unicode'];
  const finishRaw = raw['finish'];
  const opts: SimOptions = {
    tokens: num(raw['tokens']) ?? (behaviour === 'long' ? 2000 : undefined),
    interval: num(raw['interval']) ?? 0,
    size: num(raw['size']) ?? (behaviour === 'long' ? 1024 : undefined),
    unicode: unicodeRaw === undefined ? behaviour === 'split' : unicodeRaw !== '0' && unicodeRaw !== 'false',
    after: num(raw['after']) ?? 3,
    delay: num(raw['delay']) ?? (behaviour === 'slowheaders' ? 2000 : 0),
    seed: num(raw['seed']) ?? 42,
    fail: num(raw['fail']) ?? 2,
    status: num(raw['status']) ?? 500,
    reasoning: num(raw['reasoning']) ?? 3,
    calls: Math.max(1, num(raw['calls']) ?? 1),
    finish: finishRaw !== undefined && FINISH_SET.has(finishRaw) ? (finishRaw as FinishReason) : undefined,
  };
  return { model: name, behaviour, opts };
}
