// The face of workers/ for the main thread (the only module of workers/ that src/ imports): the messages both ways,
// the pooled wire, the shared mirror health, the credit policy and the per-turn batching.
//
// One long-lived channel per worker carries every stream of that worker, multiplexed by stream id.
// Each side batches its messages with the Outbox below: a port message is always an array of these.
// Nothing here throws across the thread boundary: failures travel as plain objects with a code.

export { MirrorHealth, type Circuit, type MirrorView } from './health.js';
export { IdTable } from './id-table.js';
export type { Usage } from './content.js';
export type * from './messages.js';
export { dataLength } from './messages.js';
import type { DataMsg, FromWorker } from './messages.js';
export { mainPort, workerPort } from './wire.js';

/**
 * The credit policy both ends follow. The writer returns credit in lumps of this size, and a paused
 * worker resumes once it holds this much again: each pause moves many events, and a stream that keeps
 * up never runs dry (it always has more than a lump left).
 */
export function creditLump(budget: number): number {
  return Math.max(1, Math.floor(budget / 2));
}

/** For exhaustive switches over message types: a new message kind is a compile error, not a silent default. */
export function unreachable(x: never): never {
  throw new Error(`unexpected message ${JSON.stringify(x)}`);
}

/**
 * A worker's batch this long goes out at the end of the callback that made it, not only at the end of the turn.
 * Under load one turn reads tens of thousands of upstream events (libuv polls up to 48 × 1024
 * sockets before the turn moves on), and held for the turn's end each of them waited for all the others: at
 * 8000 paced streams that wait was most of the gap between events. (Inline, a limit of 16 cost 15 % more CPU
 * per short stream than 256, for no better gap. The same limit on the main thread's opens showed no difference
 * the same-run A/B could tell from noise, so that side still batches per turn.)
 */
export const BATCH_LIMIT = 256;

/** How an Outbox merges a message into the one before it in the same batch (see Outbox). */
export interface Joiner<T> {
  /** `next` can be merged into `last`, the message just before it in the batch. */
  joins(last: T, next: T): boolean;
  /** The one message that stands for `run` (two or more joinable messages, in order). */
  join(run: readonly T[]): T;
}

/**
 * A stream's bytes, consecutive in one batch, go as one data message. undici hands the body of a chunked
 * response on one HTTP chunk at a time, and an upstream sends each SSE event as a chunk: a read that holds
 * eight events made eight messages, eight writes and eight `send`s to the client (strace of 8000 paced streams
 * under saturation: 11 `sendto` per upstream `read`; nginx forwards a read in one `writev`). Joined, the bytes
 * of one read leave in one send. Nothing is copied to join them: the message keeps the pieces (`more`), the main
 * thread writes them in one cork, and the pooled wire packs them as one chunk. It ends as its last piece ends (`cut`).
 */
export const DATA_RUNS: Joiner<FromWorker> = {
  // (a message that is itself a run never joins: the outbox only ever holds the exchanges' single chunks)
  joins: (last, next) => last.t === 'data' && next.t === 'data' && last.id === next.id && last.more === undefined && next.more === undefined,
  join(run) {
    const first = run[0] as DataMsg;
    const more: Uint8Array[] = [];
    for (let i = 1; i < run.length; i++) more.push((run[i] as DataMsg).chunk);
    const cut = (run[run.length - 1] as DataMsg).cut === true;
    return cut ? { t: 'data', id: first.id, chunk: first.chunk, more, cut } : { t: 'data', id: first.id, chunk: first.chunk, more };
  },
};

/**
 * The batching both ends of a channel use: messages go out once per event-loop turn (many streams share one
 * port message), or at the end of the current callback after soon() (for messages a paused stream waits on).
 * With a Joiner, a message that joins the one before it in the batch is merged into it (when the batch goes out,
 * or when a message that does not join is pushed): it takes no place of its own.
 */
export class Outbox<T> {
  #batch: T[] = [];
  #turn = false;
  #soon = false;
  /** The messages being joined into the batch's last place (empty: none). */
  #run: T[] = [];
  /** Messages pushed since the batch last went out, joined ones too: what `limit` counts. */
  #pushed = 0;

  /**
   * `limit`: a batch of this many messages goes out at the end of the current callback instead of waiting for the
   * turn's end. Joined messages count: a batch whose messages were joined into a few still goes out as soon (held
   * to the turn's end, a saturated turn's upstream reads lived through scavenges and were promoted: at the peak of
   * 8000 paced streams ~40 MB more ArrayBuffers, most of them garbage, and a malloc heap of 75-80 MB against 37,
   * in 4 of 6 runs).
   */
  constructor(
    private readonly post: (batch: T[]) => void,
    private readonly limit = Infinity,
    private readonly joiner: Joiner<T> | null = null,
  ) {}

  push(msg: T): void {
    if (++this.#pushed >= this.limit) this.soon();
    if (this.joiner !== null) {
      const n = this.#batch.length;
      if (n > 0 && this.joiner.joins(this.#batch[n - 1]!, msg)) {
        if (this.#run.length === 0) this.#run.push(this.#batch[n - 1]!);
        this.#run.push(msg);
        return; // the batch is already due (it has a message)
      }
      this.#closeRun();
    }
    this.#batch.push(msg);
    if (!this.#turn) {
      this.#turn = true;
      setImmediate(this.flush);
    }
  }

  soon(): void {
    if (this.#soon) return;
    this.#soon = true;
    queueMicrotask(this.flush);
  }

  /** The run being joined becomes one message, in the batch's last place. */
  #closeRun(): void {
    if (this.#run.length === 0) return;
    this.#batch[this.#batch.length - 1] = this.joiner!.join(this.#run);
    this.#run = [];
  }

  readonly flush = (): void => {
    this.#turn = false;
    this.#soon = false;
    this.#pushed = 0;
    if (this.#batch.length === 0) return;
    this.#closeRun();
    const batch = this.#batch;
    this.#batch = [];
    this.post(batch);
  };
}
