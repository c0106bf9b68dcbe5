// A non-stream chat completion (upstream JSON) → the Responses `response` object.
import { functionCallItem, messageItem, reasoningItem } from './items.js';
import { incompleteReason, isObj, itemId, mapUsage, reasoningOf, responseObject, str, type Obj, type ResponseContext } from './shape.js';

export type ReplyResult =
  | { readonly ok: true; readonly response: Obj; readonly finishReason: string | null }
  | { readonly ok: false; readonly code: 'upstream_bad_response'; readonly message: string; readonly param: null };

function bad(message: string): ReplyResult {
  return { ok: false, code: 'upstream_bad_response', message, param: null };
}

/**
 * Maps the first choice of a chat completion: reasoning → a reasoning item, content → a message item with one
 * output_text part, tool_calls → function_call items (in that order). finish_reason `length` / `content_filter`
 * make the response `incomplete`.
 */
export function chatToResponse(chatJson: unknown, ctx: ResponseContext): ReplyResult {
  if (!isObj(chatJson)) return bad('The upstream answer is not a JSON object.');
  const choices = chatJson.choices;
  if (!Array.isArray(choices) || choices.length === 0) return bad('The upstream answer has no choices.');
  const choice: unknown = choices[0];
  if (!isObj(choice) || !isObj(choice.message)) return bad('The upstream answer has no message.');
  const m = choice.message;
  const finish = typeof choice.finish_reason === 'string' ? choice.finish_reason : null;
  const incomplete = incompleteReason(finish);
  const status = incomplete === null ? 'completed' : 'incomplete';
  const output: Obj[] = [];
  let n = 0;
  const reasoning = reasoningOf(m);
  if (reasoning !== '') output.push(reasoningItem(itemId(ctx, 'rs', n++), reasoning, status));
  const content = str(m.content);
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as unknown[]) : [];
  if (content !== '') output.push(messageItem(itemId(ctx, 'msg', n++), content, status));
  for (let i = 0; i < calls.length; i++) {
    const c: unknown = calls[i];
    if (!isObj(c)) continue;
    const fn = isObj(c.function) ? c.function : {};
    const k = n++;
    const callId = str(c.id) || itemId(ctx, 'call', k);
    output.push(functionCallItem(itemId(ctx, 'fc', k), callId, str(fn.name), str(fn.arguments), 'completed'));
  }
  const model = typeof chatJson.model === 'string' && chatJson.model !== '' ? chatJson.model : ctx.model;
  const response = responseObject(ctx, { status, output, usage: mapUsage(chatJson.usage), incomplete, error: null, model });
  return { ok: true, response, finishReason: finish };
}
