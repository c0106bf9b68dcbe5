// The streams that are not chat's SSE, on the main thread: the head of a binary body (audio/speech) and how each
// framing ends after its first byte (chat: error event and [DONE]; Responses: the worker's own last events).
import type { HttpResponse } from './uws.js';
import type { StreamFraming } from '../../workers/protocol.js';
import { statusLine, writeCommonHeaders, type ResponseContext } from './respond.js';
import { errorEvent, responsesErrorEvent, type ErrorCode } from '../errors.js';
import { RES } from './names.js';

/** Status and headers of a streamed binary body under the upstream's content-type (no length: chunked); inside cork. */
export function writeBytesHead(res: HttpResponse, ctx: ResponseContext, contentType: string, closeConnection: boolean): void {
  res.writeStatus(statusLine(200));
  res.writeHeader(RES.contentType, contentType);
  res.writeHeader(RES.cacheControl, RES.noCache);
  res.writeHeader(RES.xAccelBuffering, RES.no);
  if (closeConnection) res.writeHeader(RES.connection, RES.close);
  writeCommonHeaders(res, ctx);
}

/**
 * The in-band error that ends a started stream because of the proxy (a limit, a crash, shutdown); null for a
 * binary body, which has no in-band error: its connection is closed instead, so the client sees it cut.
 */
export function inBandError(framing: StreamFraming | undefined, code: ErrorCode): string | null {
  if (framing === undefined) return errorEvent(code);
  return framing === 'responses' ? responsesErrorEvent(code) : null;
}
