// SSE responses over uWS: the head (status 200 and the SSE headers), the writer's sink, and the fixed texts.
import type { HttpResponse } from './uws.js';
import { statusLine, writeCommonHeaders, type ResponseContext } from './respond.js';
import type { Sink } from '../sse/writer.js';

export const DONE = 'data: [DONE]\n\n';
export const KEEP_ALIVE = ': keep-alive\n\n';

/** Status and headers of an event stream (CONTRACT §3); call inside cork. */
export function writeSseHead(res: HttpResponse, ctx: ResponseContext, closeConnection: boolean): void {
  res.writeStatus(statusLine(200));
  res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
  res.writeHeader('cache-control', 'no-cache');
  res.writeHeader('x-accel-buffering', 'no');
  if (closeConnection) res.writeHeader('connection', 'close'); // the client's next request goes elsewhere
  writeCommonHeaders(res, ctx);
}

/**
 * The writer's sink over one uWS response. Writes arrive from worker messages and timers, outside uWS's
 * own callbacks, so each one is corked. `head` writes the status and headers before the first body byte.
 */
export function uwsSink(res: HttpResponse, head: () => void): Sink {
  let started = false;
  const begin = (): void => {
    if (started) return;
    started = true;
    head();
  };
  return {
    write(chunk) {
      let ok = false;
      res.cork(() => {
        begin();
        ok = res.write(chunk);
      });
      return ok;
    },
    // (uWS's closeConnection would write a header into the chunked body here)
    end: (chunk) => res.cork(() => {
      begin();
      res.end(chunk);
    }),
    close: () => res.close(),
    // an empty cork: uWS's uncork drains its own buffer without adding a byte
    flush: () => res.cork(() => undefined),
  };
}
