// The messages between the main thread and the stream workers, both ways, and the settings a worker gets: types, and the one length both ends count credit by.
import type { Usage } from './content.js';

/**
 * The relayed routes. `models` is the upstream model list (non-stream GET); `responses` is translated onto the
 * upstream's chat completions; `speech` streams the upstream's binary body; `transcriptions` and `translations`
 * carry a multipart upload.
 */
export type RouteKind =
  | 'chat' | 'completions' | 'embeddings' | 'models'
  | 'images' | 'speech' | 'transcriptions' | 'translations' | 'responses';

/** How a stream's bytes are framed toward the client (HeadMsg): absent for chat's SSE (`[DONE]`, error events). */
export type StreamFraming = 'responses' | 'bytes';

/** Failure codes a worker can report. `src/errors.ts` maps each to status, OpenAI type and log level. */
export type WorkerErrorCode =
  | 'invalid_utf8'
  | 'invalid_json'
  | 'invalid_request'
  | 'upstream_unreachable'
  | 'upstream_bad_response'
  | 'upstream_auth'
  | 'upstream_redirect'
  | 'upstream_timeout'
  | 'upstream_reset'
  | 'upstream_truncated'
  | 'upstream_idle_timeout'
  | 'stream_timeout'
  | 'upstream_error_event'
  | 'response_too_large'
  | 'internal_error';

/** Per-stream limits chosen by the main thread at admission (it knows the load). All in ms; 0 = off. */
export interface StreamLimits {
  /** Time to upstream response headers and, for a stream, to its first event (for non-stream: the whole body). */
  readonly firstByteMs: number;
  /** Longest gap between upstream bytes once the first event arrived. */
  readonly idleMs: number;
  /** Whole stream, from open to end. */
  readonly totalMs: number;
}

export interface OpenMsg {
  readonly t: 'open';
  readonly id: number;
  readonly kind: RouteKind;
  /** The request body exactly as the client sent it (validated and forwarded by the worker). */
  readonly body: Uint8Array;
  /** The client's content-type, for the multipart routes only (their boundary travels with it). */
  readonly contentType?: string;
  readonly reqId: string;
  /** The client's W3C traceparent, passed upstream (null: none or invalid). */
  readonly traceparent: string | null;
  /** Bytes the worker may send before it must wait for credit (STREAM_BUFFER_SIZE). */
  readonly credit: number;
  readonly limits: StreamLimits;
}
export interface CreditMsg { readonly t: 'credit'; readonly id: number; readonly n: number }
export interface AbortMsg { readonly t: 'abort'; readonly id: number }
/** Memory pressure on the main thread: the worker collects garbage too (undici and the framers live here). */
export interface GcMsg { readonly t: 'gc' }
export type ToWorker = OpenMsg | CreditMsg | AbortMsg | GcMsg;

/** What the main thread needs to know about the upstream side of one request. */
export interface UpstreamMeta {
  /** Index in the configured mirror list of the mirror that answered (-1: none). */
  readonly mirror: number;
  readonly attempts: number;
  /** The model the client asked for. */
  readonly model: string;
  /** The model sent upstream instead, when MODEL_ALIASES rewrote it. */
  readonly upstreamModel?: string;
  readonly stream: boolean;
  /** The prompt as text, truncated: only with LOG_USER_MESSAGES. */
  readonly prompt?: string;
  /** Small request parameters (temperature, max_tokens…): only with ENABLE_DETAILED_LOGGING. */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** A complete non-stream answer: success, or an upstream error relayed with its status. */
export interface ReplyMsg {
  readonly t: 'reply';
  readonly id: number;
  readonly status: number;
  /** Allow-listed headers only, names lowercase; content-type always set. */
  readonly headers: Readonly<Record<string, string>>;
  /** The upstream's bytes as they came (a 2xx passed through: never decoded here, never encoded again there), or text the worker made. */
  readonly body: Uint8Array | string;
  readonly meta: UpstreamMeta;
  /** Token usage read from the answer (null: none there). */
  readonly usage: Usage | null;
  /** The answer's text (or the upstream error's), truncated: only with LOG_RESPONSE_CONTENT. */
  readonly content?: string;
}
/** A failure before anything reached the client: the main thread answers with its own error. */
export interface FailMsg {
  readonly t: 'fail';
  readonly id: number;
  readonly code: WorkerErrorCode;
  /** '' means the error table's message. */
  readonly message: string;
  readonly param: string | null;
  /** Seconds, from an upstream Retry-After, passed on to the client when present. */
  readonly retryAfter?: number;
  readonly meta: UpstreamMeta;
}
/**
 * A streamed response begins (status 200). Without `framing` it is chat's SSE: the main thread ends it with `[DONE]`
 * and writes its own error event. `responses`: SSE whose terminal events the worker writes (no `[DONE]`); a failure
 * the main thread causes ends with a Responses `error` event. `bytes`: the upstream's body as it comes, under
 * `contentType`; a failure after the first byte closes the connection (no clean end).
 */
export interface HeadMsg {
  readonly t: 'head';
  readonly id: number;
  readonly meta: UpstreamMeta;
  readonly framing?: StreamFraming;
  readonly contentType?: string;
}
/** Bytes of the SSE response, as the upstream sent them (or think-transformed); their length is the credit they use. */
export interface DataMsg {
  readonly t: 'data';
  readonly id: number;
  readonly chunk: Uint8Array;
  /** Bytes that follow `chunk`, in order: a run of the stream's data joined in one batch (protocol.ts DATA_RUNS). */
  readonly more?: readonly Uint8Array[];
  /** The chunk ends inside an event (an event larger than 8 KB, or than the credit, goes in pieces): nothing may be written after it but the rest. */
  readonly cut?: true;
}
/** The bytes of a data message: its chunk and the pieces that follow it (the credit they use, one length for both ends). */
export function dataLength(chunk: Uint8Array, more: readonly Uint8Array[] | undefined): number {
  let n = chunk.byteLength;
  if (more !== undefined) for (let i = 0; i < more.length; i++) n += more[i]!.byteLength;
  return n;
}
export interface StreamStats {
  /** Events relayed to the client. */
  readonly events: number;
  /** Malformed upstream events skipped. */
  readonly malformed: number;
  /** From the stream's usage chunk (include_usage); null when it had none. */
  readonly usage: Usage | null;
  /** The streamed text, truncated: only with LOG_RESPONSE_CONTENT. */
  readonly content?: string;
}
/**
 * The stream is over. `done` says whether `data: [DONE]` must close it; with `code` set the main thread
 * first writes one error event (CONTRACT §4).
 */
export interface EndMsg {
  readonly t: 'end';
  readonly id: number;
  readonly done: boolean;
  readonly code?: WorkerErrorCode;
  readonly message?: string;
  readonly stats: StreamStats;
}
/** Sent once when a channel opens: the worker is ready, and this is its thread (0 inline). */
export interface ReadyMsg { readonly t: 'ready'; readonly threadId: number }
/** The answer to a GcMsg: the worker's heap before and after (MB); `collected` false when gc is not exposed. */
export interface CollectedMsg { readonly t: 'collected'; readonly collected: boolean; readonly heapBeforeMb: number; readonly heapAfterMb: number }
export type FromWorker = ReplyMsg | FailMsg | HeadMsg | DataMsg | EndMsg | ReadyMsg | CollectedMsg;

/** Everything a worker needs, sent once when its channel opens (workers never read process.env). */
export interface WorkerConfig {
  readonly mirrors: readonly string[];
  /** The shared circuit state of the mirrors (MirrorHealth.allocate), one for the whole instance. */
  readonly health: SharedArrayBuffer;
  readonly upstreamApiKey: string | null;
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly retryAfterCapMs: number;
  readonly connectTimeoutMs: number;
  readonly circuitFailures: number;
  readonly circuitResetMs: number;
  readonly maxUpstreamConnections: number;
  readonly reasoningFormat: 'passthrough' | 'think';
  readonly modelsCacheTtlMs: number;
  readonly maxResponseBytes: number;
  /** Framer cap: one SSE event larger than this ends the stream with upstream_bad_response. */
  readonly maxEventBytes: number;
  /** The Go version's opt-ins (CONTRACT §7): request parameters, prompt text, completion text in the log line. */
  readonly logDetails: boolean;
  readonly logPrompts: boolean;
  readonly logCompletions: boolean;
  /**
   * HTTP_PROXY / HTTPS_PROXY / NO_PROXY as config.ts read them (null: not set). Workers never read process.env,
   * so these are passed explicitly to undici's EnvHttpProxyAgent.
   */
  readonly httpProxy: string | null;
  readonly httpsProxy: string | null;
  readonly noProxy: string | null;
  /** MODEL_ALIASES: alias → the model sent upstream instead. */
  readonly modelAliases: Readonly<Record<string, string>>;
}

/** The minimal port both the real MessagePort and the inline (POOL_SIZE=0) pair implement. */
export interface Port<In, Out> {
  postMessage(batch: Out[]): void;
  onBatch(handler: (batch: In[]) => void): void;
  close(): void;
}

