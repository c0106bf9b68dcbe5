// Chat-completion chunks in, the Responses API's SSE event sequence out (one ResponsesStream per response).
//
//   start()      response.created, response.in_progress
//   onChunk()    reasoning deltas → reasoning item (reasoning_text.delta …); content → message item
//                (output_text.delta …); tool_calls[i] → one function_call item each (function_call_arguments.delta …).
//                A change of kind closes the open item (its .done events); a finish_reason closes all.
//   finish()     .done events still owed, then response.completed (response.incomplete for length / content_filter)
//   fail()       response.failed with the error and the output so far (a failure after the first byte, CONTRACT §4)
import { functionCallItem, messageItem, reasoningItem, reasoningPart, textPart, type ItemStatus } from './items.js';
import {
  incompleteReason, isObj, itemId, mapUsage, reasoningOf, responseObject, str,
  type Obj, type ResponseContext, type ResponseStatus, type ResponseUsage,
} from './shape.js';

interface TextItem { readonly kind: 'message' | 'reasoning'; readonly index: number; readonly id: string; text: string }
interface CallItem {
  index: number;
  id: string;
  callId: string;
  name: string;
  args: string;
  /** output_item.added has gone out (it waits for the name). */
  added: boolean;
  done: boolean;
}

export class ResponsesStream {
  readonly #ctx: ResponseContext;
  #seq = 0;
  #started = false;
  #ended = false;
  /** Output items by output index: the final item once done, a snapshot source until then. */
  readonly #output: Obj[] = [];
  #text: TextItem | null = null;
  /** Tool calls by their chat `index`, in order of appearance. */
  readonly #calls = new Map<number, CallItem>();
  #finish: string | null = null;
  #usage: ResponseUsage | null = null;
  #model: string;
  #events = 0;

  constructor(ctx: ResponseContext) {
    this.#ctx = ctx;
    this.#model = ctx.model;
  }

  /** The finish_reason seen so far (null: none yet). */
  get finishReason(): string | null { return this.#finish; }
  /** Usage from the upstream's usage chunk (null until it came). */
  get usage(): ResponseUsage | null { return this.#usage; }
  /** Events written so far. */
  get events(): number { return this.#events; }
  /** True once finish() or fail() has produced the terminal event. */
  get ended(): boolean { return this.#ended; }

  /** response.created and response.in_progress ('' if already started). */
  start(): string {
    if (this.#started) return '';
    this.#started = true;
    const response = this.#response('in_progress', []);
    return this.#event('response.created', { response }) + this.#event('response.in_progress', { response });
  }

  /** One parsed chat.completion.chunk → the events it produces ('' for none). Only choice index 0 is used. */
  onChunk(chunk: Obj): string {
    if (this.#ended) return '';
    let out = this.start();
    if (typeof chunk.model === 'string' && chunk.model !== '') this.#model = chunk.model;
    const usage = mapUsage(chunk.usage);
    if (usage !== null) this.#usage = usage;
    const choice = firstChoice(chunk.choices);
    if (choice === null) return out;
    const d = isObj(choice.delta) ? choice.delta : {};
    const reasoning = reasoningOf(d);
    if (reasoning !== '') out += this.#textDelta('reasoning', reasoning);
    const content = str(d.content);
    if (content !== '') out += this.#textDelta('message', content);
    if (Array.isArray(d.tool_calls)) out += this.#toolDeltas(d.tool_calls as unknown[]);
    if (typeof choice.finish_reason === 'string' && this.#finish === null) {
      this.#finish = choice.finish_reason;
      out += this.#closeAll(this.#itemStatus());
    }
    return out;
  }

  /** A clean end: the owed .done events, then response.completed / response.incomplete ('' once ended). */
  finish(): string {
    if (this.#ended) return '';
    let out = this.start() + this.#closeAll(this.#itemStatus());
    this.#ended = true;
    const incomplete = incompleteReason(this.#finish);
    const status: ResponseStatus = incomplete === null ? 'completed' : 'incomplete';
    const response = this.#response(status, this.#output, incomplete);
    out += this.#event(`response.${status}`, { response });
    return out;
  }

  /** A failure after the first byte: response.failed carrying `error` and the output so far (open items as
   * `incomplete`, without their .done events). '' once ended. */
  fail(code: string, message: string): string {
    if (this.#ended) return '';
    let out = this.start();
    this.#ended = true;
    const output = this.#output.map((item, i) => this.#snapshot(i) ?? item);
    const response = this.#response('failed', output, null, { code, message });
    out += this.#event('response.failed', { response });
    return out;
  }

  #itemStatus(): ItemStatus {
    return incompleteReason(this.#finish) === null ? 'completed' : 'incomplete';
  }

  #response(status: ResponseStatus, output: Obj[], incomplete: ReturnType<typeof incompleteReason> = null,
    error: { code: string; message: string } | null = null): Obj {
    const terminal = status !== 'in_progress';
    return responseObject(this.#ctx, {
      status, output: [...output], usage: terminal ? this.#usage : null, incomplete, error, model: this.#model,
    });
  }

  #event(type: string, fields: Obj): string {
    this.#events++;
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#seq++, ...fields })}\n\n`;
  }

  /** A reasoning or content delta: opens its item (closing any other open item) and adds the text. */
  #textDelta(kind: 'message' | 'reasoning', delta: string): string {
    let out = '';
    let item = this.#text;
    if (item === null || item.kind !== kind) {
      out += this.#closeAll('completed');
      const index = this.#output.length;
      item = { kind, index, id: itemId(this.#ctx, kind === 'message' ? 'msg' : 'rs', index), text: '' };
      this.#text = item;
      const added = kind === 'message' ? messageItem(item.id, null, 'in_progress') : reasoningItem(item.id, null, 'in_progress');
      this.#output.push(added);
      out += this.#event('response.output_item.added', { output_index: index, item: added });
      const part = kind === 'message' ? textPart('') : reasoningPart('');
      out += this.#event('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part });
    }
    item.text += delta;
    const at = { item_id: item.id, output_index: item.index, content_index: 0, delta };
    return out + (kind === 'message'
      ? this.#event('response.output_text.delta', { ...at, logprobs: [] })
      : this.#event('response.reasoning_text.delta', at));
  }

  #toolDeltas(calls: unknown[]): string {
    let out = this.#closeText('completed');
    for (let k = 0; k < calls.length; k++) {
      const tc: unknown = calls[k];
      if (!isObj(tc)) continue;
      const key = typeof tc.index === 'number' ? tc.index : k;
      let call = this.#calls.get(key);
      if (call === undefined) {
        call = { index: -1, id: '', callId: '', name: '', args: '', added: false, done: false };
        this.#calls.set(key, call);
      }
      if (call.done) continue; // a fragment after the call was closed (finish_reason already seen): nothing to add to
      const fn = isObj(tc.function) ? tc.function : {};
      if (call.callId === '' && typeof tc.id === 'string') call.callId = tc.id;
      if (!call.added && typeof fn.name === 'string') call.name += fn.name;
      const frag = str(fn.arguments);
      if (call.added) {
        if (frag !== '') out += this.#argsDelta(call, frag);
      } else {
        call.args += frag;
        if (call.name !== '') out += this.#addCall(call);
      }
    }
    return out;
  }

  /** output_item.added for a call (once its name is known), then the arguments held until then. */
  #addCall(call: CallItem): string {
    call.index = this.#output.length;
    call.id = itemId(this.#ctx, 'fc', call.index);
    if (call.callId === '') call.callId = itemId(this.#ctx, 'call', call.index);
    call.added = true;
    const item = functionCallItem(call.id, call.callId, call.name, '', 'in_progress');
    this.#output.push(item);
    let out = this.#event('response.output_item.added', { output_index: call.index, item });
    const held = call.args;
    call.args = '';
    if (held !== '') out += this.#argsDelta(call, held);
    return out;
  }

  #argsDelta(call: CallItem, delta: string): string {
    call.args += delta;
    return this.#event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.index, delta });
  }

  #closeText(status: ItemStatus): string {
    const item = this.#text;
    if (item === null) return '';
    this.#text = null;
    const at = { item_id: item.id, output_index: item.index, content_index: 0 };
    let out: string;
    let done: Obj;
    if (item.kind === 'message') {
      out = this.#event('response.output_text.done', { ...at, text: item.text, logprobs: [] });
      out += this.#event('response.content_part.done', { ...at, part: textPart(item.text) });
      done = messageItem(item.id, item.text, status);
    } else {
      out = this.#event('response.reasoning_text.done', { ...at, text: item.text });
      out += this.#event('response.content_part.done', { ...at, part: reasoningPart(item.text) });
      done = reasoningItem(item.id, item.text, status);
    }
    this.#output[item.index] = done;
    return out + this.#event('response.output_item.done', { output_index: item.index, item: done });
  }

  /** Closes the open text item and every open call, in output order. */
  #closeAll(status: ItemStatus): string {
    let out = this.#closeText(status);
    for (const call of this.#calls.values()) {
      if (call.done) continue;
      if (!call.added) out += this.#addCall(call); // never named: still reported, with an empty name
      call.done = true;
      out += this.#event('response.function_call_arguments.done', {
        item_id: call.id, output_index: call.index, name: call.name, arguments: call.args,
      });
      const item = functionCallItem(call.id, call.callId, call.name, call.args, status);
      this.#output[call.index] = item;
      out += this.#event('response.output_item.done', { output_index: call.index, item });
    }
    return out;
  }

  /** The current state of an item still open at a failure (null when it is already done). */
  #snapshot(index: number): Obj | null {
    const t = this.#text;
    if (t !== null && t.index === index) {
      return t.kind === 'message' ? messageItem(t.id, t.text, 'incomplete') : reasoningItem(t.id, t.text, 'incomplete');
    }
    for (const c of this.#calls.values()) {
      if (c.added && !c.done && c.index === index) return functionCallItem(c.id, c.callId, c.name, c.args, 'incomplete');
    }
    return null;
  }
}

/** Choice 0 of a chunk (by its `index`, else the first), or null. */
function firstChoice(choices: unknown): Obj | null {
  if (!Array.isArray(choices)) return null;
  for (const c of choices as unknown[]) if (isObj(c) && (c.index === 0 || c.index === undefined)) return c;
  return null;
}
