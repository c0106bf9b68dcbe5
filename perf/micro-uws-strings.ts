// Micro-benchmark of uWS's string arguments: header names and fixed values as JS strings against the same as bytes (src/http/names.ts).
//
// A uWS handler that reads six request headers and writes a status, four headers and a short body, the way the
// router and an SSE head do, under wrk (perf/lib/wrk.ts: the bench's chat POST); CPU of this process per request, the two modes alternating in pairs.
// `node dist/perf/micro-uws-strings.js [pairs=5] [seconds=4]` after `npm run build` (needs Debian's wrk).
import { createApp, listen, loadUws } from '../src/http/uws.js';
import { cpuMs } from './lib/proc.js';
import { hammer, wrkAvailable } from './lib/wrk.js';
const pairs = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 4);

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const names = {
  status: '200 OK', contentType: 'content-type', eventStream: 'text/event-stream; charset=utf-8', cacheControl: 'cache-control',
  noCache: 'no-cache', accel: 'x-accel-buffering', no: 'no', requestId: 'x-request-id', origin: 'origin',
  authorization: 'authorization', contentLength: 'content-length', transferEncoding: 'transfer-encoding', traceparent: 'traceparent',
};
type Names = { readonly [K in keyof typeof names]: string | Buffer };
const asBytes: Names = Object.fromEntries(Object.entries(names).map(([k, v]) => [k, bytes(v)])) as Names;
const body = bytes('data: {"choices":[]}\n\ndata: [DONE]\n\n');
let mode: Names = names;

const rt = loadUws();
const app = createApp(rt);
app.any('/*', (res, req) => {
  const n = mode;
  for (const h of [n.origin, n.requestId, n.authorization, n.contentLength, n.transferEncoding, n.traceparent]) req.getHeader(h);
  res.cork(() => {
    res.writeStatus(n.status).writeHeader(n.contentType, n.eventStream).writeHeader(n.cacheControl, n.noCache);
    res.writeHeader(n.accel, n.no).writeHeader(n.requestId, '0f8e2c34-1b2a-4c5d-8e9f-0123456789ab').end(body);
  });
});

/** Requests wrk completed against the handler in `s` seconds (wrk in its own process: its CPU is not counted here). */
async function wrk(port: number, s: number): Promise<number> {
  const r = await hammer({ url: `http://127.0.0.1:${port}/`, model: 'm', stream: false, connections: 20, threads: 1, duration: s });
  return r.requests;
}

async function main(): Promise<void> {
  if (!wrkAvailable()) throw new Error('wrk is needed (apt-get install wrk): autocannon would run in this process and count here');
  const listener = await listen(rt, app, '127.0.0.1', 0);
  await wrk(listener.port, 1); // warm-up
  const per: Record<'strings' | 'bytes', number[]> = { strings: [], bytes: [] };
  for (let i = 0; i < pairs; i++) {
    for (const m of ['strings', 'bytes'] as const) {
      mode = m === 'strings' ? names : asBytes;
      const c0 = cpuMs(process.pid);
      const n = await wrk(listener.port, seconds);
      per[m].push(((cpuMs(process.pid) - c0) * 1000) / n);
    }
  }
  listener.close();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const m of ['strings', 'bytes'] as const) console.log(`${m.padEnd(8)} µs per request: ${per[m].map((x) => x.toFixed(2)).join(' ')} (median ${median(per[m]).toFixed(2)})`);
  console.log(`bytes / strings: ${(median(per.bytes) / median(per.strings)).toFixed(3)}`);
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
