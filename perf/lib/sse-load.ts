// SSE load generator (own process): many concurrent undici streams; TTFE, gaps, [DONE]; marks, progress and a result as JSON lines on stdout.
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import { Hist, type HistDump, type Summary } from './hist.js';

export interface SseMark { type: 'mark'; name: 'start' | 'ramped' | 'firstDone' | 'end'; t: number; events: number; open: number; active: number }
export interface SseResult {
  type: 'result';
  streams: number; requests: number; done: number; truncated: number; httpErrors: number; errors: number;
  aborted: number; statuses: Record<string, number>; errorSamples: string[]; peakActive: number;
  events: number; bytes: number; windowEvents: number; windowMs: number; elapsedMs: number;
  ttfe: Summary; gap: Summary;
  /** The histograms themselves, so the results of several generator processes can be merged. */
  ttfeHist: HistDump; gapHist: HistDump;
}
/** Running totals, every --progress seconds. */
export interface SseProgress {
  type: 'progress'; t: number; requests: number; done: number; truncated: number; httpErrors: number; errors: number;
  events: number; open: number; active: number;
}
export type SseLine = SseMark | SseResult | SseProgress;

const { values: a } = parseArgs({
  options: {
    url: { type: 'string' }, model: { type: 'string', default: 'sim/echo;tokens=20;interval=100' },
    streams: { type: 'string', default: '100' }, ramp: { type: 'string', default: '0' },
    repeat: { type: 'boolean', default: false }, duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '0' }, timeout: { type: 'string', default: '120' },
    pending: { type: 'string', default: '128' }, progress: { type: 'string', default: '0' },
    key: { type: 'string', default: 'linux.do' },
  },
});
if (!a.url) throw new Error('--url is required');
const url = new URL(a.url);
const streams = Number(a.streams);
const ramp = Number(a.ramp);
/** At most this many streams may wait for their first event: keeps accept queues (backlog 511) from overflowing into SYN retries. */
const maxPending = Number(a.pending);
const body = JSON.stringify({ model: a.model, stream: true, messages: [{ role: 'user', content: 'Benchmark me.' }] });
const headers = { 'content-type': 'application/json', authorization: `Bearer ${a.key}` };
const agent = new Agent({ pipelining: 1, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 60_000, connect: { timeout: 30_000 } });

const t0 = performance.now();
const now = (): number => performance.now() - t0;
const ttfe = new Hist();
const gap = new Hist();
const statuses: Record<string, number> = {};
const errorSamples: string[] = [];
let requests = 0, done = 0, truncated = 0, httpErrors = 0, errors = 0, aborted = 0;
let events = 0, bytes = 0, open = 0, settledFirst = 0, finished = 0, active = 0, peakActive = 0;
let stopping = false;
const live = new Set<Dispatcher.DispatchController>();
const DONE = Buffer.from('data: [DONE]');

function print(line: SseLine): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}
const mark = (name: SseMark['name']): void => print({ type: 'mark', name, t: now(), events, open, active });
const marked = new Set<string>();
function markOnce(name: SseMark['name']): void {
  if (marked.has(name)) return;
  marked.add(name);
  mark(name);
}

/** One request; `next` runs when it has finished for any reason. */
function stream(next: () => void): void {
  requests++;
  open++;
  const start = performance.now();
  let first = true, gotEvent = false, lastAt = 0, nl = false, status = 0, ctl: Dispatcher.DispatchController | undefined;
  let tail = Buffer.alloc(0);
  const settleFirst = (): void => {
    if (!first) return;
    first = false;
    if (++settledFirst === streams && !a.repeat) markOnce('ramped');
  };
  const end = (outcome: 'done' | 'truncated' | 'http' | 'error' | 'aborted', why?: string): void => {
    if (ctl) live.delete(ctl);
    open--;
    if (gotEvent) active--;
    settleFirst();
    if (outcome === 'done') done++;
    else if (outcome === 'truncated') truncated++;
    else if (outcome === 'http') httpErrors++;
    else if (outcome === 'aborted') aborted++;
    else errors++;
    if (why && outcome !== 'aborted' && errorSamples.length < 5) errorSamples.push(why);
    if (!a.repeat && outcome !== 'aborted') markOnce('firstDone');
    finished++;
    next();
  };
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      ctl = c;
      live.add(c);
    },
    onResponseStart(_c, code) {
      status = code;
      statuses[code] = (statuses[code] ?? 0) + 1;
    },
    onResponseData(_c, chunk) {
      bytes += chunk.length;
      if (status !== 200) return;
      let n = nl && chunk[0] === 0x0a ? 1 : 0;
      for (let i = chunk.indexOf('\n\n'); i !== -1; i = chunk.indexOf('\n\n', i + 2)) n++;
      nl = chunk[chunk.length - 1] === 0x0a;
      tail = Buffer.concat([tail, chunk.subarray(-16)]).subarray(-16);
      if (n === 0) return;
      const t = performance.now();
      events += n;
      if (first) {
        ttfe.record(t - start);
        gotEvent = true;
        if (++active > peakActive) peakActive = active;
        settleFirst();
      } else gap.record(t - lastAt);
      lastAt = t;
    },
    onResponseEnd() {
      if (status !== 200) end('http', `HTTP ${status}`);
      else end(tail.includes(DONE) ? 'done' : 'truncated', tail.includes(DONE) ? undefined : 'stream ended without [DONE]');
    },
    onResponseError(_c, err) {
      end(stopping ? 'aborted' : 'error', err.message);
    },
  };
  agent.dispatch({ origin: url.origin, path: url.pathname, method: 'POST', headers, body }, handler);
}

let startEvents = 0, startAt = 0, endEvents = 0, endAt = 0;
function finish(): void {
  stopping = true;
  for (const c of live) c.abort(new Error('benchmark over'));
  setImmediate(() => {
    print({
      type: 'result', streams, requests, done, truncated, httpErrors, errors, aborted, statuses, errorSamples, peakActive,
      events, bytes, windowEvents: a.repeat ? endEvents - startEvents : events, windowMs: a.repeat ? endAt - startAt : now(),
      elapsedMs: now(), ttfe: ttfe.summary(), gap: gap.summary(), ttfeHist: ttfe.dump(), gapHist: gap.dump(),
    });
    void agent.destroy().finally(() => process.exit(0));
  });
}

const safety = setTimeout(() => {
  if (errorSamples.length < 5) errorSamples.push(`timeout after ${a.timeout} s with ${open} streams open`);
  finish();
}, Number(a.timeout) * 1000);
safety.unref();

const progressMs = Number(a.progress) * 1000;
if (progressMs > 0) {
  const report = setInterval(() => {
    print({ type: 'progress', t: now(), requests, done, truncated, httpErrors, errors, events, open, active });
  }, progressMs);
  report.unref();
}

if (a.repeat) {
  const warmupMs = Number(a.warmup) * 1000;
  const endAtMs = warmupMs + Number(a.duration) * 1000;
  const loop = (): void => {
    if (!stopping && now() < endAtMs) stream(loop);
  };
  if (ramp <= 0) for (let i = 0; i < streams; i++) loop();
  else {
    // Staggered first starts (e.g. streams ÷ stream length per second), so renewals do not come in waves.
    let started = 0;
    const tick = setInterval(() => {
      const due = Math.min(streams, Math.floor((now() * ramp) / 1000) + 1);
      while (started < due) {
        started++;
        loop();
      }
      if (started >= streams || stopping) clearInterval(tick);
    }, 5);
  }
  setTimeout(() => {
    startEvents = events;
    startAt = now();
    mark('start');
  }, warmupMs);
  setTimeout(() => {
    endEvents = events;
    endAt = now();
    mark('end');
    finish();
  }, endAtMs);
} else {
  const all = (): void => {
    if (finished === streams) {
      mark('end');
      finish();
    }
  };
  if (ramp <= 0) for (let i = 0; i < streams; i++) stream(all);
  else {
    let issued = 0;
    const tick = setInterval(() => {
      const due = Math.min(streams, Math.floor((now() * ramp) / 1000) + 1);
      while (issued < due && issued - settledFirst < maxPending) {
        issued++;
        stream(all);
      }
      if (issued >= streams) clearInterval(tick);
    }, 5);
  }
}
