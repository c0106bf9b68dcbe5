// Responses `input` (a string or a list of items) → chat-completions `messages`, refusing what needs server state.
import { invalid, isInvalid, isObj, type Invalid, type Obj } from './shape.js';

export type Messages = { readonly ok: true; readonly messages: Obj[] } | Invalid;

const ROLES: ReadonlySet<string> = new Set(['user', 'assistant', 'system', 'developer']);
const DETAILS: ReadonlySet<string> = new Set(['low', 'high', 'auto']);
const STATELESS = 'this proxy keeps no state, so every item must be sent in full';

/** Builds the chat messages: `instructions` first (as a system message), then each input item in order. */
export function inputToMessages(input: unknown, instructions: string | null): Messages {
  const messages: Obj[] = [];
  if (instructions !== null && instructions !== '') messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return { ok: true, messages };
  }
  if (!Array.isArray(input)) return invalid('input', "Invalid value for 'input': expected a string or an array of input items.");
  for (let i = 0; i < input.length; i++) {
    const bad = addItem(messages, input[i], `input[${i}]`);
    if (bad !== null) return bad;
  }
  if (messages.length === 0) return invalid('input', "Invalid value for 'input': it must contain at least one message.");
  return { ok: true, messages };
}

/** Appends what one input item becomes (possibly nothing); returns the refusal, or null. */
function addItem(messages: Obj[], item: unknown, at: string): Invalid | null {
  if (!isObj(item)) return invalid(at, `Invalid value for '${at}': expected an object.`);
  const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message':
      return addMessage(messages, item, at);
    case 'function_call': {
      const { call_id: callId, name, arguments: args } = item;
      if (typeof callId !== 'string' || callId === '') return invalid(`${at}.call_id`, `Missing required parameter: '${at}.call_id'.`);
      if (typeof name !== 'string' || name === '') return invalid(`${at}.name`, `Missing required parameter: '${at}.name'.`);
      if (args !== undefined && typeof args !== 'string') return invalid(`${at}.arguments`, `Invalid type for '${at}.arguments': expected a string.`);
      const call = { id: callId, type: 'function', function: { name, arguments: args ?? '' } };
      const last = messages.at(-1);
      // Calls that follow an assistant turn belong to it (one chat message carries text and its tool calls).
      if (last !== undefined && last.role === 'assistant') {
        const calls = Array.isArray(last.tool_calls) ? (last.tool_calls as unknown[]) : (last.tool_calls = []);
        calls.push(call);
      } else {
        messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      }
      return null;
    }
    case 'function_call_output': {
      const callId = item.call_id;
      if (typeof callId !== 'string' || callId === '') return invalid(`${at}.call_id`, `Missing required parameter: '${at}.call_id'.`);
      const content = outputText(item.output, `${at}.output`);
      if (typeof content !== 'string') return content;
      messages.push({ role: 'tool', tool_call_id: callId, content });
      return null;
    }
    case 'reasoning':
      // Earlier reasoning is not sent back: chat completions has no standard field for it.
      return null;
    case 'item_reference':
      return invalid(`${at}.type`, `Input items of type 'item_reference' are not supported: ${STATELESS} (with the Vercel AI SDK, set providerOptions.openai.store to false).`);
    default:
      if (typeof type !== 'string') return invalid(`${at}.type`, `Missing required parameter: '${at}.type'.`);
      return invalid(`${at}.type`, `Input items of type '${type}' are not supported: this proxy translates the Responses API onto chat completions, which only has messages and function calls.`);
  }
}

function addMessage(messages: Obj[], item: Obj, at: string): Invalid | null {
  const role = item.role;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    return invalid(`${at}.role`, `Invalid value for '${at}.role': expected one of 'user', 'assistant', 'system', 'developer'.`);
  }
  const chatRole = role === 'developer' ? 'system' : role;
  const c = item.content;
  if (typeof c === 'string') {
    messages.push({ role: chatRole, content: c });
    return null;
  }
  if (!Array.isArray(c)) return invalid(`${at}.content`, `Invalid value for '${at}.content': expected a string or an array of content parts.`);
  const parts: Obj[] = [];
  for (let k = 0; k < c.length; k++) {
    const p = contentPart(c[k], `${at}.content[${k}]`, role);
    if (isInvalid(p)) return p;
    parts.push(p);
  }
  // System and assistant turns are plain text in chat completions; user turns keep their parts (images).
  const onlyText = parts.every((p) => p.type === 'text');
  if (role !== 'user' || (onlyText && parts.length === 1)) {
    if (!onlyText) return invalid(`${at}.content`, `Invalid value for '${at}.content': ${role} messages can only carry text.`);
    messages.push({ role: chatRole, content: parts.map((p) => p.text as string).join('') });
  } else {
    messages.push({ role: chatRole, content: parts });
  }
  return null;
}

/** One Responses content part → one chat content part. */
function contentPart(p: unknown, at: string, role: string): Obj | Invalid {
  if (!isObj(p)) return invalid(at, `Invalid value for '${at}': expected an object.`);
  switch (p.type) {
    case 'input_text':
    case 'output_text':
      if (typeof p.text !== 'string') return invalid(`${at}.text`, `Missing required parameter: '${at}.text'.`);
      return { type: 'text', text: p.text };
    case 'refusal':
      if (role !== 'assistant' || typeof p.refusal !== 'string') break;
      return { type: 'text', text: p.refusal };
    case 'input_image': {
      if (typeof p.image_url !== 'string' || p.image_url === '') {
        const why = p.file_id != null ? 'file ids need OpenAI file storage; send image_url (a URL or a data: URL)' : `'image_url' is required`;
        return invalid(`${at}.image_url`, `Invalid value for '${at}': ${why}.`);
      }
      const image: Obj = { url: p.image_url };
      if (typeof p.detail === 'string' && DETAILS.has(p.detail)) image.detail = p.detail;
      return { type: 'image_url', image_url: image };
    }
    case 'input_file': {
      if (typeof p.file_data !== 'string' || p.file_data === '') {
        return invalid(`${at}.file_data`, `Invalid value for '${at}': only inline files (file_data) can be translated; file ids and file URLs need OpenAI file storage.`);
      }
      const file: Obj = { file_data: p.file_data };
      if (typeof p.filename === 'string') file.filename = p.filename;
      return { type: 'file', file };
    }
    case 'input_audio':
      if (!isObj(p.input_audio)) return invalid(`${at}.input_audio`, `Missing required parameter: '${at}.input_audio'.`);
      return { type: 'input_audio', input_audio: p.input_audio };
  }
  const type = typeof p.type === 'string' ? `'${p.type}'` : 'missing';
  return invalid(`${at}.type`, `Invalid value for '${at}.type': content part type ${type} is not supported in a ${role} message.`);
}

/** A function_call_output's output as the tool message's text (lists of text parts are joined). */
function outputText(output: unknown, at: string): string | Invalid {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) return invalid(at, `Invalid value for '${at}': expected a string or an array of content parts.`);
  let text = '';
  for (let k = 0; k < output.length; k++) {
    const p: unknown = output[k];
    if (!isObj(p) || (p.type !== 'input_text' && p.type !== 'output_text') || typeof p.text !== 'string') {
      return invalid(`${at}[${k}]`, `Invalid value for '${at}[${k}]': only text parts can be translated into a chat tool message.`);
    }
    text += p.text;
  }
  return text;
}
