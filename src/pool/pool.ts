// The only user of piscina: one long-lived channel task per worker, replaced when a worker dies; or inline.
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Signal } from '../signal.js';
import { mainPort, type CollectedMsg, type FromWorker, type OpenMsg, type Port, type ToWorker, type WorkerConfig } from '../../workers/protocol.js';
import { Channel, type StreamEvents } from './channel.js';

const WORKER_URL = new URL('../../workers/worker.js', import.meta.url);

interface WorkerModule {
  serveChannel(port: Port<ToWorker, FromWorker>, config: WorkerConfig): { close(): Promise<void> };
}

export interface PoolStats {
  readonly size: number;
  readonly inline: boolean;
  /** Streams in flight per worker. */
  readonly busy: readonly number[];
  readonly restarts: number;
  /** Garbage collections the workers ran at the main thread's request. */
  readonly collections: number;
  /** Workers ready for streams now. */
  readonly serving: number;
}

/** The serving channel with the fewest streams (a channel whose worker is still starting gets none). */
export function leastLoaded(channels: readonly Channel[]): Channel | null {
  let best: Channel | null = null;
  for (const c of channels) if (c.serving && (best === null || c.load < best.load)) best = c;
  return best;
}

/** A pair of ports that deliver batches to each other on the same thread (POOL_SIZE=0). */
function inlinePair(): [Port<FromWorker, ToWorker>, Port<ToWorker, FromWorker>] {
  let toMain: ((b: FromWorker[]) => void) | null = null;
  let toWorker: ((b: ToWorker[]) => void) | null = null;
  return [
    { postMessage: (b) => queueMicrotask(() => toWorker?.(b)), onBatch: (h) => (toMain = h), close: () => (toWorker = null) },
    { postMessage: (b) => queueMicrotask(() => toMain?.(b)), onBatch: (h) => (toWorker = h), close: () => (toMain = null) },
  ];
}

export interface PoolOptions {
  readonly size: number;
  readonly workerConfig: WorkerConfig;
  readonly maxOldGenerationMb: number;
  /** A worker died and its channel is being started again (after `delayMs`). */
  readonly onRestart: (index: number, error: string, delayMs: number) => void;
  /** An error of the pool that belongs to no task (a worker failing to start, say). */
  readonly onError: (error: string) => void;
}

/** A replacement that dies before it is ready waits longer each time, up to this. */
const MAX_RESTART_DELAY_MS = 5000;

export class StreamPool {
  readonly #channels: Channel[] = [];
  readonly #piscina: Piscina | null;
  readonly #inlineClose: Array<() => Promise<void>> = [];
  /** Per channel: replacements in a row that died before they were ready. */
  readonly #failedStarts: number[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #restarts = 0;
  #collections = 0;
  /** Each worker's answer to collectGarbage(). */
  readonly collected = new Signal<CollectedMsg>();
  #closing = false;
  #started = false;

  private constructor(private readonly opts: PoolOptions) {
    this.#piscina =
      opts.size === 0
        ? null
        : new Piscina({
            filename: WORKER_URL.href,
            minThreads: opts.size,
            maxThreads: opts.size,
            concurrentTasksPerWorker: 1,
            atomics: 'disabled',
            idleTimeout: Number.MAX_SAFE_INTEGER,
            maxQueue: 'auto',
            ...(opts.maxOldGenerationMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationMb } } : {}),
          });
  }

  static async start(opts: PoolOptions): Promise<StreamPool> {
    const pool = new StreamPool(opts);
    if (opts.size === 0) {
      const mod = (await import(WORKER_URL.href)) as WorkerModule;
      const [mainEnd, workerEnd] = inlinePair();
      pool.#channels.push(new Channel(mainEnd, 0));
      pool.#inlineClose.push(mod.serveChannel(workerEnd, opts.workerConfig).close);
    } else {
      for (let i = 0; i < opts.size; i++) pool.#startChannel(i);
      // without a listener an error of the pool itself (a replacement worker failing to start) would throw here
      pool.#piscina!.on('error', (e: unknown) => opts.onError(e instanceof Error ? e.message : String(e)));
    }
    try {
      await Promise.all(pool.#channels.map((c) => c.ready)); // no traffic before every worker is up
    } catch (e) {
      await pool.close();
      throw e;
    }
    pool.#started = true;
    return pool;
  }

  #startChannel(index: number): void {
    const { port1, port2 } = new MessageChannel();
    const channel = new Channel(mainPort(port1), index);
    this.#channels[index] = channel;
    channel.collected.on((m) => {
      this.#collections++;
      this.collected.emit(m);
    });
    channel.ready.then(() => (this.#failedStarts[index] = 0), () => undefined);
    const task = this.#piscina!.run({ port: port2, config: this.opts.workerConfig }, { transferList: [port2] });
    task.then(
      () => channel.lost(),
      (err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        const wasServing = channel.serving;
        channel.lost(reason);
        if (this.#closing || !this.#started) return; // a worker that cannot even start is a configuration error
        this.#restarts++;
        // a replacement that dies before it is ready is retried, later each time, and gets no stream meanwhile
        const failed = wasServing ? 0 : (this.#failedStarts[index] ?? 0) + 1;
        this.#failedStarts[index] = failed;
        const delay = failed === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (failed - 1));
        this.opts.onRestart(index, reason, delay);
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (!this.#closing) this.#startChannel(index);
        }, delay);
        this.#timers.add(timer);
      },
    );
  }

  /** Opens a stream on the least loaded worker that is serving; null when none is (every worker is starting). */
  open(msg: OpenMsg, events: StreamEvents): Channel | null {
    const best = leastLoaded(this.#channels);
    best?.open(msg, events);
    return best;
  }

  /** Workers collect garbage (memory pressure); the inline worker shares the main thread's heap. */
  collectGarbage(): void {
    if (this.opts.size === 0) return;
    for (const c of this.#channels) if (c.serving) c.collect();
  }

  stats(): PoolStats {
    return {
      size: this.opts.size,
      inline: this.opts.size === 0,
      busy: this.#channels.map((c) => c.load),
      restarts: this.#restarts,
      collections: this.#collections,
      serving: this.#channels.filter((c) => c.serving).length,
    };
  }

  /** Test and chaos hook: kills the worker thread behind channel `index` (piscina replaces it). */
  async killWorker(index: number): Promise<void> {
    const threads = this.#piscina?.threads ?? [];
    const tid = this.#channels[index]?.threadId;
    const w = threads.find((t) => t.threadId === tid);
    if (!w) throw new Error('no worker thread for this channel');
    await w.terminate();
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const c of this.#channels) c.close();
    await Promise.all(this.#inlineClose.map((f) => f()));
    await this.#piscina?.close({ force: true });
  }
}
