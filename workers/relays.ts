// The stream relays an exchange can run, behind one interface: chat's SSE relay (relay.ts), the Responses
// transform (responses-relay.ts) and the binary body of audio/speech (BytesRelay, here).
import type { HeadMsg, RouteKind, StreamFraming, StreamStats, UpstreamMeta, WorkerConfig, WorkerErrorCode } from './protocol.js';
import { StreamRelay, type RelayEnd } from './relay.js';
import { ResponsesRelay } from './responses-relay.js';
import type { ResponseContext } from './responses/shape.js';

/** What the exchange needs of a relay: upstream reads in, bytes for the client out, and how the stream ended. */
export interface Relay {
  /** Events (chunks, for bytes) sent toward the client so far: above 0 the request is committed (no retry). */
  readonly events: number;
  /** Set once the stream is over (read it after push or flush). */
  readonly end: RelayEnd | null;
  /** The upstream sent `[DONE]` (its response may be left to finish, for connection reuse). */
  readonly sawDone: boolean;
  push(chunk: Uint8Array): Uint8Array | null;
  flush(): Uint8Array | null;
  /** How an upstream that closed cleanly ends the stream: null (complete) or the failure code. */
  cleanEndCode(): WorkerErrorCode | null;
  /** The text owed before the end: with `code` set, what a failure ends with when the relay writes it itself. */
  finishText(code: WorkerErrorCode | null, message?: string): string;
  stats(): StreamStats;
}

/** How a route's stream reaches the client (HeadMsg.framing); undefined for chat's SSE. */
export function framingOf(kind: RouteKind): StreamFraming | undefined {
  return kind === 'responses' ? 'responses' : kind === 'speech' ? 'bytes' : undefined;
}

/** The head of a stream: chat's as it always was; the others say their framing (bytes: the upstream's content-type). */
export function headOf(id: number, meta: UpstreamMeta, framing: StreamFraming | undefined, upstreamType: string): HeadMsg {
  if (framing === undefined) return { t: 'head', id, meta };
  return framing === 'bytes' ? { t: 'head', id, meta, framing, contentType: streamContentType(upstreamType) } : { t: 'head', id, meta, framing };
}

/** The upstream's content-type for a binary stream, when it is a safe header value (else a generic one). */
function streamContentType(type: string): string {
  return /^[\x21-\x7e][\x20-\x7e]{0,255}$/.test(type) ? type : 'application/octet-stream';
}

export function createRelay(kind: RouteKind, config: WorkerConfig, responses: ResponseContext | undefined): Relay {
  if (kind === 'speech') return new BytesRelay();
  if (kind === 'responses' && responses !== undefined) return new ResponsesRelay(config, responses);
  return new StreamRelay(config);
}

/** A binary body (audio/speech): each upstream read goes on as it came; a clean upstream end is the end. */
export class BytesRelay implements Relay {
  events = 0;
  readonly end = null;
  readonly sawDone = false;

  push(chunk: Uint8Array): Uint8Array | null {
    if (chunk.byteLength === 0) return null;
    this.events++;
    return chunk;
  }

  flush(): null {
    return null;
  }

  cleanEndCode(): null {
    return null;
  }

  finishText(): string {
    return '';
  }

  stats(): StreamStats {
    return { events: this.events, malformed: 0, usage: null };
  }
}
