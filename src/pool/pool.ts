// The only user of piscina: one long-lived channel task per worker, replaced when a worker dies; or inline.
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { messagePort, type FromWorker, type OpenMsg, type Port, type ToWorker, type WorkerConfig } from '../../workers/protocol.js';
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
  readonly onRestart: (index: number, error: string) => void;
}

export class StreamPool {
  readonly #channels: Channel[] = [];
  readonly #piscina: Piscina | null;
  readonly #inlineClose: Array<() => Promise<void>> = [];
  #restarts = 0;
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
    const channel = new Channel(messagePort<FromWorker, ToWorker>(port1), index);
    this.#channels[index] = channel;
    const task = this.#piscina!.run({ port: port2, config: this.opts.workerConfig }, { transferList: [port2] });
    task.then(
      () => channel.lost(),
      (err: unknown) => {
        channel.lost(err instanceof Error ? err.message : String(err));
        if (this.#closing || !this.#started) return; // a worker that cannot even start is a configuration error
        this.#restarts++;
        this.opts.onRestart(index, err instanceof Error ? err.message : String(err));
        this.#startChannel(index);
      },
    );
  }

  /** Opens a stream on the least loaded live worker; false when no worker is available. */
  open(msg: OpenMsg, events: StreamEvents): Channel | null {
    let best: Channel | null = null;
    for (const c of this.#channels) if (c.alive && (best === null || c.load < best.load)) best = c;
    if (best === null) return null;
    best.open(msg, events);
    return best;
  }

  stats(): PoolStats {
    return {
      size: this.opts.size,
      inline: this.opts.size === 0,
      busy: this.#channels.map((c) => c.load),
      restarts: this.#restarts,
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
    for (const c of this.#channels) c.close();
    await Promise.all(this.#inlineClose.map((f) => f()));
    await this.#piscina?.close({ force: true });
  }
}
