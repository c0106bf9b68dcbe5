// Parent side of the simulator process: fork, wait until ready, ask for stats, stop.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stop, track } from './children.js';
import type { SimChildMessage, SimChildStats } from './sim-child.js';

export interface SimProc {
  pid: number;
  port: number;
  /** e.g. http://127.0.0.1:PORT/v1/openai — what the proxy's DEEPINFRA_MIRRORS gets. */
  baseUrl: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  stats(): Promise<SimChildStats>;
  /** Clears the counters and returns the values before. */
  reset(): Promise<SimChildStats>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./sim-child.js', import.meta.url));

export async function startSim(): Promise<SimProc> {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  track(child);
  const ready = await new Promise<{ baseUrl: string; port: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulator exited (code ${code})`)));
    child.on('message', (m: SimChildMessage) => {
      if (m.type === 'ready') resolve(m);
    });
  });
  let seq = 0;
  const ask = (type: 'stats' | 'reset'): Promise<SimChildStats> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const onMsg = (m: SimChildMessage): void => {
        if (m.type === 'stats' && m.id === id) {
          child.off('message', onMsg);
          resolve(m.stats);
        }
      };
      child.on('message', onMsg);
      child.send({ type, id }, (err) => err && reject(err));
    });
  return {
    pid: child.pid ?? 0,
    port: ready.port,
    baseUrl: ready.baseUrl,
    origin: `http://127.0.0.1:${ready.port}`,
    stats: () => ask('stats'),
    reset: () => ask('reset'),
    close: async () => {
      if (child.connected) child.disconnect();
      await stop(child, 'SIGTERM', 3000);
    },
  };
}
