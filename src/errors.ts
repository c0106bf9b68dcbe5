// The one table of every failure the service reports: code → HTTP status, OpenAI error type, log level, message.
import type { WorkerErrorCode } from '../workers/protocol.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'timeout_error'
  | 'overloaded_error'
  | 'upstream_error';

interface Entry {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly level: LogLevel;
  readonly message: string;
}

/** Codes only the main thread produces. */
export type MainErrorCode =
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_api_key'
  | 'unauthorized_status'
  | 'request_timeout'
  | 'body_too_large'
  | 'key_limit'
  | 'overloaded'
  | 'queue_timeout'
  | 'memory_pressure'
  | 'draining'
  | 'worker_crashed'
  | 'shutdown'
  | 'client_stall'
  | 'max_connection_time';

export type ErrorCode = MainErrorCode | WorkerErrorCode;

/** Pinned: test/errors.test.ts asserts this table row by row, so a change here is a visible decision. */
export const ERRORS: Readonly<Record<ErrorCode, Entry>> = Object.freeze({
  // main thread, before the request reaches a worker
  not_found: { status: 404, type: 'not_found_error', level: 'info', message: 'Unknown route.' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', level: 'info', message: 'Method not allowed on this route.' },
  invalid_api_key: { status: 401, type: 'authentication_error', level: 'info', message: 'Incorrect API key provided.' },
  unauthorized_status: { status: 401, type: 'authentication_error', level: 'info', message: 'This route needs the status token.' },
  request_timeout: { status: 408, type: 'timeout_error', level: 'info', message: 'The request body did not arrive in time.' },
  body_too_large: { status: 413, type: 'invalid_request_error', level: 'info', message: 'Request body too large.' },
  key_limit: { status: 429, type: 'rate_limit_error', level: 'info', message: 'Too many concurrent requests for this API key.' },
  overloaded: { status: 503, type: 'overloaded_error', level: 'warn', message: 'The service is at capacity, retry shortly.' },
  queue_timeout: { status: 503, type: 'overloaded_error', level: 'warn', message: 'The request waited too long for a free slot.' },
  memory_pressure: { status: 503, type: 'overloaded_error', level: 'warn', message: 'The service is over its memory limit, retry shortly.' },
  draining: { status: 503, type: 'overloaded_error', level: 'info', message: 'The service is shutting down.' },
  // request validation (worker)
  invalid_utf8: { status: 400, type: 'invalid_request_error', level: 'info', message: 'The request body is not valid UTF-8.' },
  invalid_json: { status: 400, type: 'invalid_request_error', level: 'info', message: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, type: 'invalid_request_error', level: 'info', message: 'Invalid request.' },
  // upstream, before the first byte reached the client
  upstream_unreachable: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream could not be reached.' },
  upstream_bad_response: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream sent an invalid response.' },
  upstream_auth: { status: 502, type: 'upstream_error', level: 'error', message: 'The upstream refused the proxy credentials.' },
  upstream_redirect: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream answered with a redirect.' },
  upstream_timeout: { status: 504, type: 'timeout_error', level: 'warn', message: 'The upstream did not answer in time.' },
  response_too_large: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream response was too large.' },
  // once a stream has started these arrive as one error event (CONTRACT §4); the status is for the log
  upstream_reset: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream connection failed mid-stream.' },
  upstream_truncated: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream closed the stream before it finished.' },
  upstream_idle_timeout: { status: 504, type: 'timeout_error', level: 'warn', message: 'The upstream sent nothing for too long.' },
  upstream_error_event: { status: 502, type: 'upstream_error', level: 'warn', message: 'The upstream reported an error mid-stream.' },
  stream_timeout: { status: 504, type: 'timeout_error', level: 'warn', message: 'The stream exceeded its time limit.' },
  max_connection_time: { status: 504, type: 'timeout_error', level: 'warn', message: 'The connection exceeded its maximum time.' },
  client_stall: { status: 408, type: 'timeout_error', level: 'info', message: 'The client stopped reading.' },
  worker_crashed: { status: 502, type: 'server_error', level: 'error', message: 'The stream worker failed; retry the request.' },
  shutdown: { status: 503, type: 'server_error', level: 'info', message: 'The service shut down before the stream finished.' },
  internal_error: { status: 500, type: 'server_error', level: 'error', message: 'Internal error.' },
});

export function errorEntry(code: ErrorCode): Entry {
  return ERRORS[code];
}

/** The log level of a request that ended with `code`: the table's, or for codes outside it (a client that
 *  left, an upstream status relayed as `upstream_<status>`) info and warn. */
export function logLevelOf(code: string): LogLevel {
  const e = (ERRORS as Readonly<Record<string, Entry | undefined>>)[code];
  if (e) return e.level;
  return code === 'client_closed' ? 'info' : 'warn';
}

export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: ErrorCode };
}

/** The OpenAI-shaped body for a code; `message` overrides the table's text (never with secrets). */
export function errorBody(code: ErrorCode, message?: string, param: string | null = null): OpenAIErrorBody {
  const e = ERRORS[code];
  return { error: { message: message ?? e.message, type: e.type, param, code } };
}

/** One SSE event carrying an error, the way SDKs raise it mid-stream. */
export function errorEvent(code: ErrorCode, message?: string): string {
  return `data: ${JSON.stringify(errorBody(code, message))}\n\n`;
}

/**
 * A failure the main thread causes (worker crash, MAX_CONNECTION_TIME, shutdown) once a Responses stream has
 * started: the Responses API's `error` event (the worker writes response.failed for the failures it sees). The
 * main thread does not count the worker's events, so its sequence_number is the largest safe integer (after every
 * other); the nested `error` makes openai-node raise it as it raises chat's error event.
 */
export function responsesErrorEvent(code: ErrorCode, message?: string): string {
  const error = errorBody(code, message).error;
  const event = { type: 'error', sequence_number: Number.MAX_SAFE_INTEGER, code, message: error.message, param: null, error };
  return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
}
