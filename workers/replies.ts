// A complete (non-stream) upstream answer as the client gets it: the allow-listed headers and the upstream's
// content-type, a Responses request's chat answer translated, and what the log line takes (usage, opt-in text).
import type { IncomingHttpHeaders } from 'node:http';
import type { ReplyMsg } from './protocol.js';
import { answerOf, answerOfBytes, truncate } from './content.js';
import { allowedResponseHeaders, headerValue } from './headers.js';
import { chatToResponse } from './responses/reply.js';
import type { ResponseContext } from './responses/shape.js';

export type Answer = Pick<ReplyMsg, 'usage' | 'content'>;

/** Usage (always) and text (LOG_RESPONSE_CONTENT) of a complete answer, as text or as the upstream's bytes. */
export function answer(body: string | Buffer, withContent: boolean): Answer {
  const a = typeof body === 'string' ? answerOf(body, withContent) : answerOfBytes(body, withContent);
  return a.content !== undefined ? { usage: a.usage, content: a.content } : { usage: a.usage };
}

/** The log line's text (LOG_RESPONSE_CONTENT) of an upstream error body that is not OpenAI-shaped: the upstream's own words, truncated. */
export function unshapedErrorAnswer(text: string): Answer {
  return { usage: null, content: truncate(`error: ${text}`) };
}

export type Complete =
  | { readonly ok: true; readonly headers: Record<string, string>; readonly body: Buffer | string; readonly answer: Answer }
  | { readonly ok: false; readonly code: 'upstream_bad_response'; readonly message: string };

/**
 * A 2xx body (content-decoded): relayed as the bytes it came in, or for a Responses request the `response` object
 * made of it.
 */
export function completeReply(upstream: IncomingHttpHeaders, raw: Buffer, responses: ResponseContext | undefined, withContent: boolean): Complete {
  const headers = allowedResponseHeaders(upstream);
  if (responses === undefined) {
    headers['content-type'] = headerValue(upstream, 'content-type') ?? 'application/json';
    return { ok: true, headers, body: raw, answer: answer(raw, withContent) };
  }
  const text = raw.toString('utf8');
  const told = answer(text, withContent); // (a Responses answer's usage and text: the chat answer's)
  let chat: unknown;
  try {
    chat = JSON.parse(text);
  } catch {
    return { ok: false, code: 'upstream_bad_response', message: 'The upstream answer is not JSON.' };
  }
  const r = chatToResponse(chat, responses);
  if (!r.ok) return r;
  headers['content-type'] = 'application/json';
  return { ok: true, headers, body: JSON.stringify(r.response), answer: told };
}
