// Test harness: a simulator and a service on port 0, an openai SDK client, captured log lines, torn down per test.
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startService, type Service } from '../../src/service.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';

export const KEY = 'test-key-0123456789';

export interface Stack {
  readonly sim: Simulator;
  readonly service: Service;
  readonly config: Config;
  readonly origin: string;
  readonly baseURL: string;
  readonly client: OpenAI;
  /** Every log line the service wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** Raw log text (for secret scans). */
  rawLogs(): string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface StackOptions {
  /** Reuse a simulator (e.g. one shared by several services). */
  readonly sim?: Simulator;
  /** Upstream URLs instead of the simulator's. */
  readonly mirrors?: string;
}

/** Builds a config the way the service does, from an explicit environment (process.env is not read). */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ PORT: '0', HOST: '127.0.0.1', VALID_API_KEYS: KEY, LOG_LEVEL: 'info', ...env }, '');
}

export async function startStack(t: Teardown, env: Record<string, string> = {}, o: StackOptions = {}): Promise<Stack> {
  const sim = o.sim ?? (await startSimulator());
  if (!o.sim) t.teardown(() => sim.close());
  const config = testConfig({ DEEPINFRA_MIRRORS: o.mirrors ?? sim.baseUrl, ...env });
  const chunks: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      chunks.push(text);
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger(config.LOG_LEVEL, sink);
  const service = await startService(config, { log });
  t.teardown(() => service.shutdown(0));
  const origin = `http://127.0.0.1:${service.port}`;
  const client = new OpenAI({ apiKey: KEY, baseURL: `${origin}/v1`, maxRetries: 0, timeout: 30_000 });
  return { sim, service, config, origin, baseURL: `${origin}/v1`, client, logs, rawLogs: () => chunks.join('') };
}

/** Resolves with the first `name` event of `emitter` (the simulator) that satisfies `pred`. */
export function nextEvent<T>(emitter: NodeJS.EventEmitter, name: string, pred: (v: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (v: T): void => {
      if (!pred(v)) return;
      emitter.off(name, on);
      resolve(v);
    };
    emitter.on(name, on);
  });
}

/** Resolves when the service has no request in flight. */
export function idle(service: Service): Promise<void> {
  if (service.state.active.size === 0 && service.state.admission.inFlight === 0) return Promise.resolve();
  return service.state.hooks.idle.next();
}

export const chat = (model: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model,
  messages: [{ role: 'user', content: 'hello' }],
  ...extra,
});

/**
 * `p`, or a rejection naming `what` after `ms`: a test that waits for an event fails with a message when the
 * event never comes, instead of hanging until the runner's timeout.
 */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
