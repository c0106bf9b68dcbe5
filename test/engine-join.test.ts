// One upstream read, one write to the client: a worker's channel (workers/engine.ts) sends a stream's consecutive bytes
// as one data message (DATA_RUNS), however many HTTP chunks the read held (issue 13: under load each event went out in
// its own write and its own `send`, 11 per upstream read in a burst of 8000 paced streams).
import t, { type Test } from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { serveChannel } from '../workers/engine.js';
import type { FromWorker, Port, ToWorker } from '../workers/protocol.js';
import { workerConfig } from './helpers/fakes.js';

const EVENTS = 8;
const event = (i: number, eol: string): string => `data: {"id":"c","choices":[{"index":0,"delta":{"content":"token ${i}"},"finish_reason":null}]}${eol}${eol}`;
const chunk = (s: string): string => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

/** Two shapes of a chunked SSE body: an HTTP chunk per event (LF), and chunks of 100 bytes that cut events anywhere (CRLF). */
const SHAPES = {
  'a chunk per event': (): { events: string; body: string } => {
    const evs = Array.from({ length: EVENTS }, (_, i) => event(i, '\n'));
    return { events: evs.join(''), body: evs.map(chunk).join('') + chunk('data: [DONE]\n\n') };
  },
  'chunks that cut events anywhere': (): { events: string; body: string } => {
    const events = Array.from({ length: EVENTS }, (_, i) => event(i, '\r\n')).join('');
    const all = events + 'data: [DONE]\r\n\r\n';
    let body = '';
    for (let i = 0; i < all.length; i += 100) body += chunk(all.slice(i, i + 100));
    return { events, body };
  },
};

/** An upstream that answers every request with `body`, head and whole body in one write (one read on loopback). */
async function upstreamOnce(body: string): Promise<Server> {
  const server = createServer((s: Socket) => {
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const headEnd = got.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(got.subarray(0, headEnd).toString())?.[1] ?? 0);
      if (got.length < headEnd + 4 + length) return;
      got = Buffer.alloc(0);
      s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${body}0\r\n\r\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** One streamed chat request through a worker's channel (the real undici client) to an upstream that answers `body`: every message posted. */
async function relayOnce(t: Test, body: string): Promise<FromWorker[]> {
  const server = await upstreamOnce(body);
  t.teardown(() => server.close());
  const posted: FromWorker[] = [];
  let deliver: (batch: ToWorker[]) => void = () => undefined;
  let ended: () => void = () => undefined;
  const end = new Promise<void>((r) => (ended = r));
  const port: Port<ToWorker, FromWorker> = {
    postMessage(batch) {
      posted.push(...batch);
      if (batch.some((m) => m.t === 'end' || m.t === 'fail')) ended();
    },
    onBatch: (h) => (deliver = h),
    close: () => undefined,
  };
  const cfg = workerConfig({ mirrors: [`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`], connectTimeoutMs: 5000, maxUpstreamConnections: 2 });
  const channel = serveChannel(port, cfg);
  t.teardown(() => channel.close());
  const request = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
  deliver([{
    t: 'open', id: 1, kind: 'chat', body: Buffer.from(request), reqId: 'r1', traceparent: null, credit: 16_384,
    limits: { firstByteMs: 5000, idleMs: 5000, totalMs: 10_000 },
  }]);
  await end;
  return posted;
}

/** The types of stream 1's messages, and the bytes of its data messages as text. */
function outline(posted: readonly FromWorker[]): { kinds: string[]; dataMessages: number; text: string } {
  const data = posted.filter((m) => m.t === 'data');
  const bytes = data.flatMap((m) => (m.t === 'data' ? [m.chunk, ...(m.more ?? [])] : []));
  return {
    kinds: posted.filter((m) => 'id' in m && m.id === 1).map((m) => m.t),
    dataMessages: data.length,
    text: bytes.map((b) => Buffer.from(b).toString()).join(''),
  };
}

for (const [shape, make] of Object.entries(SHAPES))
  t.test(`${shape}: the ${EVENTS} events of one upstream read go to the main thread as one data message`, async (t) => {
    const { events, body } = make();
    const posted = await relayOnce(t, body);
    const o = outline(posted);
    t.same(o.kinds, ['head', 'data', 'end'], 'the head, the events in one message, the end');
    t.equal(o.dataMessages, 1, `one data message for the read (${o.dataMessages})`);
    t.equal(o.text, events, 'the events, byte for byte, in order');
    t.match(posted.find((m) => m.t === 'end'), { done: true }, 'ended by [DONE]');
  });

t.test('an error event after the events of the same read: the events go as one message, then the stream ends with the error', async (t) => {
  const events = Array.from({ length: 3 }, (_, i) => event(i, '\n'));
  const error = 'data: {"error":{"message":"model overloaded","type":"server_error"}}\n\n';
  const posted = await relayOnce(t, [...events, error].map(chunk).join(''));
  const o = outline(posted);
  t.same(o.kinds, ['head', 'data', 'end']);
  t.equal(o.text, events.join(''), 'the three events, not the error event');
  t.match(posted.find((m) => m.t === 'end'), { done: false, code: 'upstream_error_event', message: /model overloaded/ }, 'then the error, as the stream\'s end');
});
