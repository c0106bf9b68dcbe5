// The main thread's end of one worker channel: stream ids, per-turn batching, dispatch of worker messages.
import { Signal } from '../signal.js';
import { IdTable, Outbox, unreachable, type CollectedMsg, type DataMsg, type EndMsg, type FailMsg, type FromWorker, type HeadMsg, type OpenMsg, type Port, type ReplyMsg, type ToWorker } from '../../workers/protocol.js';

/** What a stream's owner on the main thread hears from the worker. */
export interface StreamEvents {
  onReply(m: ReplyMsg): void;
  onFail(m: FailMsg): void;
  onHead(m: HeadMsg): void;
  onData(m: DataMsg): void;
  onEnd(m: EndMsg): void;
  /** A stream's last bytes and its end, next to each other in one batch (most short streams): `onData` then `onEnd`. */
  onLast(data: DataMsg, end: EndMsg): void;
  /** The worker died: the stream is gone (CONTRACT §4 applies). */
  onLost(): void;
}

export class Channel {
  readonly #streams = new IdTable<StreamEvents>(); // (not a Map: workers/id-table.ts)
  readonly #outbox: Outbox<ToWorker>;
  #alive = true;
  /** The worker thread behind this channel (0 inline), known once it announced itself. */
  threadId = -1;
  /** The worker's answers to collect(). */
  readonly collected = new Signal<CollectedMsg>();
  /** Resolves when the worker has announced itself: it is ready for streams. */
  readonly ready: Promise<void>;
  #onReady: () => void = () => undefined;
  #onNeverReady: (e: Error) => void = () => undefined;

  constructor(
    private readonly port: Port<FromWorker, ToWorker>,
    readonly index: number,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.#onReady = resolve;
      this.#onNeverReady = reject;
    });
    this.ready.catch(() => undefined); // only start() awaits it
    this.#outbox = new Outbox((batch) => {
      if (this.#alive) port.postMessage(batch);
    });
    port.onBatch((batch) => this.#receive(batch));
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** The worker announced itself and has not died: streams may be opened on it. */
  get serving(): boolean {
    return this.#alive && this.threadId >= 0;
  }

  /** Asks the worker to collect garbage (its answer arrives on `collected`). */
  collect(): void {
    this.#post({ t: 'gc' });
  }

  /** Streams in flight on this channel. */
  get load(): number {
    return this.#streams.size;
  }

  open(msg: OpenMsg, events: StreamEvents): void {
    this.#streams.set(msg.id, events);
    this.#post(msg);
  }

  credit(id: number, n: number): void {
    if (this.#streams.has(id)) this.#post({ t: 'credit', id, n });
  }

  abort(id: number): void {
    if (this.#streams.delete(id)) this.#post({ t: 'abort', id });
  }

  /** The worker behind this channel is gone: every stream hears onLost once. */
  lost(reason = 'the worker exited'): void {
    this.#onNeverReady(new Error(`stream worker ${this.index} died before it was ready: ${reason}`));
    this.#alive = false;
    const streams = this.#streams.values();
    this.#streams.clear();
    for (const s of streams) s.onLost();
  }

  close(): void {
    this.#alive = false;
    this.port.close();
  }

  /**
   * Opens and aborts arrive one uWS callback each: they are batched per event-loop turn, so a burst of
   * requests or of disconnects costs the worker one message. Credit goes out at the end of the current
   * callback (it is sent while handling a worker batch, so it is batched already, and a paused upstream
   * waits for it).
   */
  #post(msg: ToWorker): void {
    this.#outbox.push(msg);
    if (msg.t === 'credit') this.#outbox.soon();
  }

  #receive(batch: FromWorker[]): void {
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      if (m.t === 'ready') {
        this.threadId = m.threadId;
        this.#onReady();
        continue;
      }
      if (m.t === 'collected') {
        this.collected.emit(m);
        continue;
      }
      const s = this.#streams.get(m.id);
      if (!s) continue; // aborted by the main thread meanwhile
      switch (m.t) {
        case 'data': {
          const next = batch[i + 1];
          if (next !== undefined && next.t === 'end' && next.id === m.id && next.code === undefined) {
            i++;
            this.#streams.delete(m.id);
            s.onLast(m, next);
          } else s.onData(m);
          break;
        }
        case 'head':
          s.onHead(m);
          break;
        case 'reply':
          this.#streams.delete(m.id);
          s.onReply(m);
          break;
        case 'fail':
          this.#streams.delete(m.id);
          s.onFail(m);
          break;
        case 'end':
          this.#streams.delete(m.id);
          s.onEnd(m);
          break;
        default:
          unreachable(m);
      }
    }
  }
}
