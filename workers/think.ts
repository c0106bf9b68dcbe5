// REASONING_FORMAT=think: rewrites reasoning_content deltas into `<think>…</think>` content, per choice.

type Obj = Record<string, unknown>;

const OPEN = '<think>';
const CLOSE = '</think>';

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/**
 * One per stream. Chunks that need no change are returned as their raw event text (no re-serialisation);
 * rewritten ones come back as `data: <json>\n\n`. A block still open when a choice finishes is closed in
 * that chunk; one still open at the end of the stream is closed by `finish()`.
 */
export class ThinkTransform {
  /** Choice indexes whose <think> block is open. */
  readonly #open = new Set<number>();
  #id: unknown = undefined;
  #model: unknown = undefined;
  #created: unknown = undefined;

  /** Given an inspected chunk and its raw event, returns the event text(s) to send instead (possibly the
   * raw unchanged when there is no reasoning). */
  apply(value: Obj, raw: string): string {
    if (value.id !== undefined) this.#id = value.id;
    if (value.model !== undefined) this.#model = value.model;
    if (value.created !== undefined) this.#created = value.created;
    const choices = value.choices;
    if (!Array.isArray(choices) || choices.length === 0) return raw;
    if (!this.#needsRewrite(choices)) return raw;
    const out: unknown[] = new Array(choices.length);
    for (let i = 0; i < choices.length; i++) {
      const c: unknown = choices[i];
      out[i] = isObj(c) ? this.#rewriteChoice(c, i) : c;
    }
    return `data: ${JSON.stringify({ ...value, choices: out })}\n\n`;
  }

  /** At the end of the stream (before [DONE], or before an error event): the closing text if a <think>
   * block is still open, else ''. Built from the last chunk's id/model/created. */
  finish(): string {
    if (this.#open.size === 0) return '';
    const choices = [...this.#open].sort((a, b) => a - b)
      .map((index) => ({ index, delta: { content: CLOSE }, finish_reason: null }));
    this.#open.clear();
    const chunk = {
      id: this.#id ?? '', object: 'chat.completion.chunk', created: this.#created ?? 0, model: this.#model ?? '', choices,
    };
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }

  #needsRewrite(choices: unknown[]): boolean {
    for (let i = 0; i < choices.length; i++) {
      const c: unknown = choices[i];
      if (!isObj(c)) continue;
      const d = c.delta;
      if (isObj(d) && nonEmpty(d.reasoning_content)) return true;
      if (this.#open.size === 0) continue;
      const open = this.#open.has(indexOf(c, i));
      if (open && ((isObj(d) && nonEmpty(d.content)) || (c.finish_reason !== null && c.finish_reason !== undefined))) {
        return true;
      }
    }
    return false;
  }

  #rewriteChoice(c: Obj, pos: number): Obj {
    const index = indexOf(c, pos);
    const d = isObj(c.delta) ? c.delta : null;
    const reasoning = d === null ? undefined : d.reasoning_content;
    const content = d === null ? undefined : d.content;
    let text = '';
    if (nonEmpty(reasoning)) {
      if (!this.#open.has(index)) { text = OPEN; this.#open.add(index); }
      text += reasoning;
    }
    const finishing = c.finish_reason !== null && c.finish_reason !== undefined;
    if (this.#open.has(index) && (nonEmpty(content) || finishing)) {
      text += CLOSE;
      this.#open.delete(index);
    }
    if (nonEmpty(content)) text += content;
    const nd: Obj = {};
    let placed = false;
    if (d !== null) {
      for (const k in d) {
        if (k === 'content' || k === 'reasoning_content') {
          if (!placed) { placed = true; if (text !== '' || content !== undefined) nd.content = text !== '' ? text : content; }
          continue;
        }
        nd[k] = d[k];
      }
    }
    if (!placed && text !== '') nd.content = text;
    return { ...c, delta: nd };
  }
}

function indexOf(c: Obj, pos: number): number {
  return typeof c.index === 'number' ? c.index : pos;
}
