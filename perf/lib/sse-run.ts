// Parent side of the SSE load generator: runs perf/lib/sse-load.js as a child, relays its marks, returns its result.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { track } from './children.js';
import type { SseLine, SseMark, SseResult } from './sse-load.js';

export interface SseLoadOptions {
  url: string;
  model: string;
  streams: number;
  /** Streams opened per second (0: all at once). */
  ramp?: number;
  /** Keep re-issuing requests for warmup + duration seconds. */
  repeat?: boolean;
  duration?: number;
  warmup?: number;
  timeout?: number;
  /** Most streams waiting for their first event at once (default 128). */
  pending?: number;
}

const SCRIPT = fileURLToPath(new URL('./sse-load.js', import.meta.url));

/** Runs one load; `onMark` is called synchronously for each mark the generator prints. */
export function runSseLoad(o: SseLoadOptions, onMark: (m: SseMark) => void = () => {}): Promise<SseResult> {
  const args = [SCRIPT, '--url', o.url, '--model', o.model, '--streams', String(o.streams), '--ramp', String(o.ramp ?? 0),
    '--duration', String(o.duration ?? 10), '--warmup', String(o.warmup ?? 0), '--timeout', String(o.timeout ?? 120),
    '--pending', String(o.pending ?? 128)];
  if (o.repeat) args.push('--repeat');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  let result: SseResult | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m: SseLine;
    try {
      m = JSON.parse(line) as SseLine;
    } catch {
      return;
    }
    if (m.type === 'mark') onMark(m);
    else result = m;
  });
  return new Promise((resolve, reject) => {
    child.once('close', (code) => {
      if (result) resolve(result);
      else reject(new Error(`sse-load exited (code ${code}) without a result:\n${err}`));
    });
  });
}
