// The stream relays an exchange can run (the `Relay` interface is in relay.ts): chat's SSE relay (relay.ts), the Responses
// transform (responses-relay.ts) and the binary body of audio/speech (BytesRelay, here).
import type { HeadMsg, RouteKind, StreamFraming, StreamStats, UpstreamMeta, WorkerConfig } from './protocol.js';
import { StreamRelay, type Relay } from './relay.js';
import { ResponsesRelay } from './responses-relay.js';
import type { ResponseContext } from './responses/shape.js';

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
  readonly midEvent = false; // (every piece counts as cut: the exchange sends a binary body so)

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
