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

/**
 * The batching both ends of a channel use: messages go out once per event-loop turn (many streams share one
 * port message), or at the end of the current callback after soon() (for messages a paused stream waits on).
 */
export class Outbox<T> {
  #batch: T[] = [];
  #turn = false;
  #soon = false;

  /** `limit`: a batch this long goes out at the end of the current callback instead of waiting for the turn's end. */
  constructor(
    private readonly post: (batch: T[]) => void,
    private readonly limit = Infinity,
  ) {}

  push(msg: T): void {
    if (this.#batch.push(msg) >= this.limit) this.soon();
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

  readonly flush = (): void => {
    this.#turn = false;
    this.#soon = false;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.post(batch);
  };
}
