// SSE responses over uWS: the head (status 200 and the SSE headers), the writer's sink, and the fixed texts.
import type { HttpResponse } from './uws.js';
import { statusLine, writeCommonHeaders, type ResponseContext } from './respond.js';
import type { Sink } from '../sse/writer.js';
import { RES } from './names.js';

export const DONE = 'data: [DONE]\n\n';
export const KEEP_ALIVE = ': keep-alive\n\n';

/** Status and headers of an event stream (CONTRACT §3); call inside cork. */
export function writeSseHead(res: HttpResponse, ctx: ResponseContext, closeConnection: boolean): void {
  res.writeStatus(statusLine(200));
  res.writeHeader(RES.contentType, RES.eventStream);
  res.writeHeader(RES.cacheControl, RES.noCache);
  res.writeHeader(RES.xAccelBuffering, RES.no);
  if (closeConnection) res.writeHeader(RES.connection, RES.close); // the client's next request goes elsewhere
  writeCommonHeaders(res, ctx);
}

/** Who writes the status and headers of a stream, once, right before its first body byte. */
export interface StreamStart {
  startStream(): void;
}

/**
 * The writer's sink over one uWS response (one object per stream, no closures). Writes arrive from worker
 * messages and timers, outside uWS's own callbacks, so each one is corked; the head goes out with the first.
 */
export class UwsSink implements Sink {
  started = false;

  constructor(
    readonly res: HttpResponse,
    readonly owner: StreamStart,
  ) {}

  write(chunk: Uint8Array | string, more?: readonly Uint8Array[]): boolean {
    pendingMore = more ?? NONE;
    const ok = corked(this, chunk, corkedWrite); // one shared callback: cork runs it at once
    pendingMore = NONE;
    return ok;
  }

  end(chunk: Uint8Array | string): void {
    corked(this, chunk, corkedEnd);
  }

  close(): void {
    this.res.close();
  }

  /** An empty cork: uWS's uncork drains its own buffer without adding a byte. */
  flush(): void {
    this.res.cork(noop);
  }
}

// what the corked callbacks act on (cork calls them synchronously, never nested)
let current: UwsSink | null = null;
let pending: Uint8Array | string = '';
const NONE: readonly Uint8Array[] = [];
let pendingMore = NONE;
let written = false;

function corked(s: UwsSink, chunk: Uint8Array | string, fn: () => void): boolean {
  current = s;
  pending = chunk;
  written = false;
  s.res.cork(fn);
  pending = '';
  current = null;
  return written;
}

function begin(s: UwsSink): void {
  if (s.started) return;
  s.started = true;
  s.owner.startStream();
}

/** The chunk and the pieces of a run after it, in one cork: they leave in one send; false when uWS had to keep any. */
function corkedWrite(): void {
  const s = current!;
  begin(s);
  let ok = s.res.write(pending);
  for (let i = 0; i < pendingMore.length; i++) ok = s.res.write(pendingMore[i]!) && ok;
  written = ok;
}

function corkedEnd(): void {
  const s = current!;
  begin(s);
  s.res.end(pending); // (uWS's closeConnection would write a header into the chunked body here)
}

const noop = (): void => undefined;
