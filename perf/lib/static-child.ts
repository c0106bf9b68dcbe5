// The static upstream for benchmarks (own process, uWS): bodies built once per model name; SSE all at once, paced, or long with backpressure.
//
// Why: the simulator (node:http, a JSON.stringify and a write per event, every token string built up front)
// costs more CPU per request than the proxies it feeds, so on 2 cores it would be the bottleneck of `wrk`, of
// 8000 paced streams and of 300 long streams. This server understands the same model names
// (`sim/echo;tokens=N;interval=MS;size=B`, via src/simulator's grammar and chunk shapes) but prebuilds the bytes:
// - a non-stream request gets one cached chat.completion JSON body;
// - a stream with interval 0 of at most ALL_AT_ONCE bytes gets the whole SSE body (events + [DONE]) in one chunked write;
// - a longer stream with interval 0 is written event by event while the socket takes it, resumed on writable
//   (backpressure reaches this server just as it reaches the simulator);
// - a paced stream (interval > 0) gets its first event at once and the next one every `interval` ms (one timer each).
// Past EXACT tokens, the content events cycle through EXACT prebuilt ones, so memory stays small for any length.
// Only what a benchmark needs: no failure behaviours, no echo; the simulator remains the reference upstream.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { makePlan, parseModel } from '../../src/simulator/index.js';
import { listen, loadUws } from '../../src/http/uws.js';
import { chatBody, chatEvents, type Meta } from '../../src/simulator/content.js';
import type { SimChildMessage, SimChildStats, UpstreamRequest } from './sim-child.js';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof UWS;

/** Streams up to this size go out in one write. */
export const ALL_AT_ONCE = 256 * 1024;
/** Content events built exactly; longer streams cycle through them. */
const EXACT = 256;

interface Answer {
  json: Buffer;
  /** Events in the stream, [DONE] included. */
  count: number;
  at(i: number): Buffer;
  /** The whole stream when it is at most ALL_AT_ONCE bytes. */
  all: Buffer | undefined;
  interval: number;
}

const answers = new Map<string, Answer>();

function answerFor(model: string): Answer {
  const cached = answers.get(model);
  if (cached) return cached;
  const spec = parseModel(model);
  const tokens = spec.opts.tokens ?? 8;
  const small = { ...spec, opts: { ...spec.opts, tokens: Math.min(tokens, EXACT) } };
  const plan = makePlan(small, {}, 'chat');
  const meta: Meta = { id: 'chatcmpl-static', created: 1700000000, model: spec.model };
  // role chunk, content chunks (the last with finish_reason), [DONE]
  const ev = [...chatEvents(meta, plan, false)].map((e) => Buffer.from(`data: ${JSON.stringify(e)}\n\n`));
  ev.push(Buffer.from('data: [DONE]\n\n'));
  const count = tokens + 2;
  const at = tokens <= EXACT
    ? (i: number): Buffer => ev[i] as Buffer
    : (i: number): Buffer => (i === 0 ? ev[0] : i >= count - 2 ? ev[ev.length - (count - i)] : ev[1 + ((i - 1) % (EXACT - 1))]) as Buffer;
  let size = 0;
  for (let i = 0; i < count && size <= ALL_AT_ONCE; i++) size += at(i).length;
  const a: Answer = {
    json: Buffer.from(JSON.stringify(chatBody(meta, plan))), count, at,
    all: size <= ALL_AT_ONCE ? Buffer.concat(Array.from({ length: count }, (_, i) => at(i))) : undefined,
    interval: spec.opts.interval,
  };
  if (answers.size > 1000) answers.clear();
  answers.set(model, a);
  return a;
}

const MODEL_RE = /"model"\s*:\s*"([^"]*)"/;
const STREAM_RE = /"stream"\s*:\s*true/;
const stats: SimChildStats = { requests: 0, completed: 0, aborts: 0, blockedWrites: 0, waitingDrain: 0, inFlight: 0, lastAbortEvents: 0 };

/** Answers one request; `onStop` receives what to do if the client aborts later. */
function respond(res: UWS.HttpResponse, body: string, onStop: (stop: () => void) => void): void {
  const a = answerFor(MODEL_RE.exec(body)?.[1] ?? '');
  const done = (): void => {
    stats.completed++;
    stats.inFlight--;
  };
  if (!STREAM_RE.test(body)) {
    res.cork(() => res.writeHeader('content-type', 'application/json').end(a.json));
    return done();
  }
  const head = (): void => {
    res.writeHeader('content-type', 'text/event-stream').writeHeader('cache-control', 'no-cache');
  };
  if (a.interval <= 0 && a.all) {
    res.cork(() => {
      head();
      res.write(a.all as Buffer);
      res.end();
    });
    return done();
  }
  let i = 0;
  if (a.interval <= 0) {
    let blocked = false;
    const pump = (): void => {
      while (i < a.count) {
        if (!res.write(a.at(i++))) {
          stats.blockedWrites++;
          if (!blocked) stats.waitingDrain++;
          blocked = true;
          return;
        }
      }
      res.end();
      done();
    };
    res.onWritable(() => {
      if (blocked) stats.waitingDrain--;
      blocked = false;
      pump();
      return true;
    });
    res.cork(() => {
      head();
      pump();
    });
    onStop(() => {
      if (blocked) stats.waitingDrain--;
      stats.lastAbortEvents = i;
    });
    return;
  }
  const next = (): boolean => {
    if (!res.write(a.at(i++))) stats.blockedWrites++;
    if (i < a.count) return true;
    res.end();
    done();
    return false;
  };
  res.cork(() => {
    head();
    next();
  });
  const timer = setInterval(() => {
    res.cork(() => {
      if (!next()) clearInterval(timer);
    });
  }, a.interval);
  onStop(() => {
    clearInterval(timer);
    stats.lastAbortEvents = i;
  });
}

const app = uws.App();
app.get('/*', (res) => {
  res.end('ok');
});
app.post('/*', (res) => {
  stats.requests++;
  stats.inFlight++;
  let stop = (): void => {};
  res.onAborted(() => {
    stats.aborts++;
    stats.inFlight--;
    stop();
  });
  const chunks: Buffer[] = [];
  res.onData((ab, isLast) => {
    chunks.push(Buffer.from(new Uint8Array(ab)));
    if (isLast) respond(res, Buffer.concat(chunks).toString('utf8'), (s) => (stop = s));
  });
});

const send = (m: SimChildMessage): void => {
  process.send?.(m);
};
// Listens as the service does (src/http/uws.ts: LISTEN_SOCKETS sockets on one port): with a single socket (512
// handshakes waiting for accept()) a proxy opening 8000 upstream connections at once could overflow this server's
// queue, and the retries (1 s, 3 s) would show up in every target's time to first byte.
listen(loadUws(), app, '127.0.0.1', 0).then(
  ({ port }) => send({ type: 'ready', baseUrl: `http://127.0.0.1:${port}/v1/openai`, port }),
  (e: unknown) => {
    console.error(`static upstream: ${String(e)}`);
    process.exit(1);
  },
);
process.on('message', (raw: unknown) => {
  const m = raw as Partial<UpstreamRequest>;
  const id = m.id ?? 0;
  if (m.type === 'reset') Object.assign(stats, { requests: 0, completed: 0, aborts: 0, blockedWrites: 0, lastAbortEvents: 0 });
  if (m.type === 'stats' || m.type === 'reset') send({ type: 'stats', id, stats: { ...stats } });
  if (m.type === 'aborts') send({ type: 'aborts', id, aborts: [] });
});
process.on('disconnect', () => process.exit(0));
