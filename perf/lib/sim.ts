// Parent side of an upstream process (the simulator, or the static upstream): fork, wait until ready, ask for stats and abort times, stop.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stop, track } from './children.js';
import type { AbortRecord, SimChildMessage, SimChildStats } from './sim-child.js';

/** `sim`: src/simulator (every behaviour, per-request abort times); `static`: perf/lib/static-child.ts (prebuilt bodies, cheap). */
export type UpstreamKind = 'sim' | 'static';
export const UPSTREAM_KINDS: readonly UpstreamKind[] = ['sim', 'static'];

export interface SimProc {
  kind: UpstreamKind;
  pid: number;
  port: number;
  /** e.g. http://127.0.0.1:PORT/v1/openai — what the proxy's DEEPINFRA_MIRRORS gets. */
  baseUrl: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  stats(): Promise<SimChildStats>;
  /** Clears the counters and returns the values before. */
  reset(): Promise<SimChildStats>;
  /** Requests cancelled since the last call (sim only; the static upstream answers none). */
  aborts(): Promise<AbortRecord[]>;
  close(): Promise<void>;
}

const CHILD: Record<UpstreamKind, string> = {
  sim: fileURLToPath(new URL('./sim-child.js', import.meta.url)),
  static: fileURLToPath(new URL('./static-child.js', import.meta.url)),
};

export async function startSim(kind: UpstreamKind = 'sim'): Promise<SimProc> {
  const child = fork(CHILD[kind], [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  track(child);
  const ready = await new Promise<{ baseUrl: string; port: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} upstream exited (code ${code})`)));
    child.on('message', (m: SimChildMessage) => {
      if (m.type === 'ready') resolve(m);
    });
  });
  let seq = 0;
  const ask = <T extends SimChildMessage['type']>(type: 'stats' | 'reset' | 'aborts', answer: T): Promise<Extract<SimChildMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const onMsg = (m: SimChildMessage): void => {
        if (m.type === answer && 'id' in m && m.id === id) {
          child.off('message', onMsg);
          resolve(m as Extract<SimChildMessage, { type: T }>);
        }
      };
      child.on('message', onMsg);
      child.send({ type, id }, (err) => err && reject(err));
    });
  return {
    kind,
    pid: child.pid ?? 0,
    port: ready.port,
    baseUrl: ready.baseUrl,
    origin: `http://127.0.0.1:${ready.port}`,
    stats: async () => (await ask('stats', 'stats')).stats,
    reset: async () => (await ask('reset', 'stats')).stats,
    aborts: async () => (await ask('aborts', 'aborts')).aborts,
    close: async () => {
      if (child.connected) child.disconnect();
      await stop(child, 'SIGTERM', 3000);
    },
  };
}
