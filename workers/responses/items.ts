// The Responses output items (message, reasoning, function_call) and their content parts, built one way for both paths.
import type { Obj } from './shape.js';

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export function textPart(text: string): Obj {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

export function reasoningPart(text: string): Obj {
  return { type: 'reasoning_text', text };
}

/** An assistant message; `text` null while it has no content part yet (the `added` event). */
export function messageItem(id: string, text: string | null, status: ItemStatus): Obj {
  return { id, type: 'message', status, role: 'assistant', content: text === null ? [] : [textPart(text)] };
}

/** Raw reasoning as `reasoning_text` content (summary stays empty: the upstream gives no summary). */
export function reasoningItem(id: string, text: string | null, status: ItemStatus): Obj {
  return { id, type: 'reasoning', status, summary: [], content: text === null ? [] : [reasoningPart(text)] };
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status: ItemStatus): Obj {
  return { id, type: 'function_call', status, call_id: callId, name, arguments: args };
}
