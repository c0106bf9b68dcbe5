// The piscina task of a stream worker: one long-lived channel per worker, alive until its port closes.
import type { MessagePort } from 'node:worker_threads';
import { workerPort, type WorkerConfig } from './protocol.js';
import { serveChannel } from './engine.js';

export interface ChannelTask {
  readonly port: MessagePort;
  readonly config: WorkerConfig;
}

/** Resolves when the main thread closes the channel; a crash rejects it (piscina then replaces the worker). */
export default function channelTask(task: ChannelTask): Promise<string> {
  return new Promise((resolve) => {
    const served = serveChannel(workerPort(task.port), task.config);
    task.port.once('close', () => {
      served.close().then(
        () => resolve('closed'),
        () => resolve('closed'),
      );
    });
  });
}

export { serveChannel };
