// What the log line may show of a request and its answer: token usage always; prompt, parameters and completion text only when the Go version's opt-ins ask (truncated).
export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** The longest prompt or completion text a log line carries. */
export const LOG_TEXT_MAX = 2000;

/** Request parameters ENABLE_DETAILED_LOGGING shows (never message text, never keys). */
const PARAMS = ['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'n', 'stream', 'seed', 'presence_penalty', 'frequency_penalty'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

export function truncate(text: string, max = LOG_TEXT_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** Usage from an OpenAI `usage` object (chat, completions, embeddings), or null. */
export function usageFrom(u: unknown): Usage | null {
  if (!isObj(u)) return null;
  if (typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') return null;
  return { promptTokens: num(u.prompt_tokens), completionTokens: num(u.completion_tokens) };
}

/** The small parameters of a request, for ENABLE_DETAILED_LOGGING. */
export function paramsOf(body: Obj): Obj {
  const out: Obj = {};
  for (const k of PARAMS) if (body[k] !== undefined && typeof body[k] !== 'object') out[k] = body[k];
  if (Array.isArray(body.tools)) out.tools = body.tools.length;
  return out;
}

/** The prompt as text (`role: content` per message, or the completions prompt), for LOG_USER_MESSAGES. */
export function promptOf(body: Obj): string {
  if (Array.isArray(body.messages)) {
    return truncate(body.messages.map((m) => (isObj(m) ? `${String(m.role)}: ${textOf(m.content)}` : '')).join('\n'));
  }
  const p = body.prompt ?? body.input;
  return truncate(typeof p === 'string' ? p : JSON.stringify(p ?? ''));
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : isObj(p) ? `[${String(p.type)}]` : '')).join(' ');
  return content === null || content === undefined ? '' : JSON.stringify(content);
}

/**
 * A complete JSON answer: its usage, and (when asked) its text. Without the text only the `usage` object is
 * parsed (it comes last in OpenAI-shaped answers), not the whole body.
 */
export function answerOf(text: string, withContent: boolean): { usage: Usage | null; content?: string } {
  if (!withContent) return { usage: usageIn(text) };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { usage: null };
  }
  if (!isObj(v)) return { usage: null };
  const usage = usageFrom(v.usage);
  const first: unknown = Array.isArray(v.choices) ? v.choices[0] : undefined;
  let content = '';
  if (isObj(first)) {
    const m = isObj(first.message) ? first.message : null;
    content = m ? `${typeof m.reasoning_content === 'string' ? `<think>${m.reasoning_content}</think>` : ''}${textOf(m.content)}` : textOf(first.text);
  } else if (isObj(v.error)) {
    content = `error: ${textOf(v.error.message)}`;
  }
  return { usage, content: truncate(content) };
}

/**
 * answerOf for a body still in bytes: without the text, only the bytes from the last `"usage"` on are decoded
 * (ASCII bytes never occur inside a multi-byte UTF-8 sequence, so it is the same key the text would have).
 */
export function answerOfBytes(body: Buffer, withContent: boolean): { usage: Usage | null; content?: string } {
  if (withContent) return answerOf(body.toString('utf8'), true);
  const key = body.lastIndexOf('"usage"');
  return { usage: key < 0 ? null : usageAt(body.toString('utf8', key), 0) };
}

/** The last `"usage": {…}` object of a JSON text (null: none). */
function usageIn(text: string): Usage | null {
  const key = text.lastIndexOf('"usage"');
  return key < 0 ? null : usageAt(text, key);
}

/** The `"usage": {…}` object whose key starts at `key`, found by matching its braces (strings skipped) and parsed alone. */
function usageAt(text: string, key: number): Usage | null {
  const open = text.indexOf('{', key);
  if (open < 0 || text.slice(key + 7, open).trim() !== ':') return null;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) {
      try {
        return usageFrom(JSON.parse(text.slice(open, i + 1)));
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** The text of a stream as it goes by (LOG_RESPONSE_CONTENT): deltas of choice 0, reasoning marked, capped. */
export class Transcript {
  #text = '';
  #more = 0;

  add(chunk: Obj): void {
    const first: unknown = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (!isObj(first)) return;
    const d = isObj(first.delta) ? first.delta : null;
    const piece = d ? `${typeof d.reasoning_content === 'string' ? d.reasoning_content : ''}${typeof d.content === 'string' ? d.content : ''}` : textOf(first.text);
    const room = LOG_TEXT_MAX - this.#text.length;
    if (piece.length <= room) this.#text += piece;
    else {
      this.#text += piece.slice(0, Math.max(0, room));
      this.#more += piece.length - Math.max(0, room);
    }
  }

  get text(): string {
    return this.#more > 0 ? `${this.#text}… (${this.#more} more characters)` : this.#text;
  }
}
