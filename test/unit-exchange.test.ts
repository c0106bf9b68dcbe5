// Exchange (unit, fake dispatcher): credit pauses and resumes the upstream, the first-event and idle limits, replies.
import t from 'tap';
import { createGunzip, gzipSync } from 'node:zlib';
import { Exchange } from '../workers/exchange.js';
import type { ExchangeContext } from '../workers/context.js';
import { ModelsCache } from '../workers/models-cache.js';
import type { FromWorker, OpenMsg, StreamLimits } from '../workers/protocol.js';
import { MirrorHealth } from '../workers/protocol.js';
import { FakeUpstream, openAIError, workerConfig } from './helpers/fakes.js';

const config = workerConfig({ mirrors: ['http://m0.test/v1'], retryDelayMs: 10, retryAfterCapMs: 1000, circuitResetMs: 10_000, maxUpstreamConnections: 10 });

function setup(stream: boolean, o: { credit?: number; limits?: Partial<StreamLimits> } = {}) {
  const up = new FakeUpstream();
  const sent: FromWorker[] = [];
  const finished: number[] = [];
  const ctx: ExchangeContext = {
    config, health: new MirrorHealth(config.health, 1, 5, 10_000), dispatch: up.dispatch, models: new ModelsCache(0),
    send: (m) => sent.push(m), flushSoon: () => undefined, finished: (id) => finished.push(id),
  };
  const body = new TextEncoder().encode(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream }));
  const open: OpenMsg = {
    t: 'open', id: 7, kind: 'chat', body, reqId: 'r', traceparent: null, credit: o.credit ?? 100,
    limits: { firstByteMs: 1000, idleMs: 500, totalMs: 10_000, ...o.limits },
  };
  const ex = new Exchange(ctx, open, 'chat');
  ex.start();
  const data = (): string => sent.filter((m) => m.t === 'data').map((m) => (m.t === 'data' ? m.chunk : '')).join('');
  return { up, sent, finished, ex, data };
}

const ev = (i: number, extra = ''): string => `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(i)}"}${extra}}]}\n\n`;

t.test('an invalid body fails with a 400 code before any upstream call', async (t) => {
  const up = new FakeUpstream();
  const sent: FromWorker[] = [];
  const ctx: ExchangeContext = { config, health: new MirrorHealth(config.health, 1, 5, 10_000), dispatch: up.dispatch, models: new ModelsCache(0), send: (m) => sent.push(m), flushSoon: () => undefined, finished: () => undefined };
  new Exchange(ctx, { t: 'open', id: 1, kind: 'chat', body: new TextEncoder().encode('{"model":"m"}'), reqId: 'r', traceparent: null, credit: 10, limits: { firstByteMs: 0, idleMs: 0, totalMs: 0 } }, 'chat').start();
  t.match(sent, [{ t: 'fail', code: 'invalid_request', param: 'messages' }]);
  t.equal(up.calls.length, 0);
});

t.test('no credit left: the upstream is paused; credit of a lump resumes it', async (t) => {
  const L = Buffer.byteLength(ev(30));
  const budget = 3 * L - 1; // room for two events and most of a third
  const { up, sent, ex, data } = setup(true, { credit: budget });
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  t.same(sent.map((m) => m.t), ['head']);
  up.last.data(ev(30));
  t.notOk(up.last.controller.paused, 'credit left: reading on');
  up.last.data(ev(30) + ev(30));
  t.ok(up.last.controller.paused, 'out of credit: paused');
  ex.credit(L);
  t.ok(up.last.controller.paused, `less than a lump (${Math.floor(budget / 2)} bytes) held: still paused`);
  ex.credit(L);
  t.notOk(up.last.controller.paused, 'a lump held again: resumed');
  t.equal(data(), ev(30) + ev(30) + ev(30), 'events relayed unchanged, in order');
});

t.test('a stream bounds the reads of its socket by its credit, asks it to read again as credit returns, and lifts the bound at [DONE]', async (t) => {
  const L = Buffer.byteLength(ev(30));
  const { up, ex } = setup(true, { credit: 4 * L });
  const c = up.last.controller;
  t.equal(c.bound, undefined, 'no bound before the response');
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  const bound = c.bound;
  t.ok(bound, 'a streamed response sets a bound on its socket');
  t.equal(bound?.allowance, 4 * L, 'the bound is the credit left: all of it');
  t.equal(bound?.readLump, Math.floor((4 * L) / 2), 'and the least room a read needs: a lump');
  up.last.data(ev(30) + ev(30) + ev(30));
  t.equal(bound?.allowance, L, 'the credit the events used is no longer allowed');
  const asked = c.readsAgain;
  ex.credit(2 * L);
  t.equal(bound?.allowance, 3 * L, 'credit back: allowed again');
  t.equal(c.readsAgain, asked + 1, 'and the socket asked to read again (it may have stopped for the bound)');
  up.last.data(ev(1, ',"finish_reason":"stop"') + 'data: [DONE]\n\n');
  t.equal(c.bound, null, '[DONE]: the bound lifted (the rest of the response is read for the connection)');
});

t.test('a compressed stream sets no read bound (its bytes are not the bytes of the credit)', async (t) => {
  const { up } = setup(true);
  up.last.respond(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
  t.equal(up.last.controller.bound, undefined);
});

t.test('a non-stream response sets no read bound', async (t) => {
  const { up } = setup(false);
  up.last.respond(200, { 'content-type': 'application/json' });
  t.equal(up.last.controller.bound, undefined);
});

t.test('REQUEST_TIMEOUT covers the first event: headers alone do not satisfy it', async (t) => {
  const { up, sent, ex } = setup(true, { limits: { firstByteMs: 1000, idleMs: 5000 } });
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  up.last.data(': ping\n\n');
  ex.check(ex.started + 1001);
  t.match(sent.at(-1), { t: 'end', code: 'upstream_timeout', done: false }, 'no event within REQUEST_TIMEOUT, pings do not count');
  t.ok(up.last.controller.aborted, 'the upstream request is cut');
});

t.test('after the first event STREAM_IDLE_TIMEOUT applies, but not while we paused the upstream', async (t) => {
  const { up, sent, ex } = setup(true, { credit: 10, limits: { firstByteMs: 100_000, idleMs: 500, totalMs: 0 } });
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  up.last.data(ev(20));
  t.ok(up.last.controller.paused);
  ex.check(performance.now() + 10_000);
  t.equal(sent.at(-1)?.t, 'data', 'paused for our slow client: not idle');
  ex.credit(1000);
  t.notOk(up.last.controller.paused, 'resumed');
  ex.check(performance.now() + 501);
  t.match(sent.at(-1), { t: 'end', code: 'upstream_idle_timeout' });
});

t.test('[DONE] ends the stream clean; the upstream may finish its response (lingers) before it is cut', async (t) => {
  const { up, sent, ex, finished } = setup(true);
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  up.last.data(ev(1, ',"finish_reason":"stop"') + 'data: [DONE]\n\n');
  t.match(sent.at(-1), { t: 'end', done: true });
  t.same(finished, [], 'lingering: not finished yet');
  t.notOk(up.last.controller.aborted);
  ex.check(performance.now() + 2000);
  t.ok(up.last.controller.aborted, 'cut after the linger time');
  t.same(finished, [7]);
});

t.test('a stream that fails before its first event is retried; after it, it ends with an error event code', async (t) => {
  const { up, sent } = setup(true);
  up.last.respond(200, { 'content-type': 'text/event-stream' });
  up.last.fail('ECONNRESET');
  t.equal(up.calls.length, 1, 'MAX_RETRIES=0 here: no retry');
  t.match(sent.at(-1), { t: 'fail', code: 'upstream_unreachable' });
  const two = setup(true);
  two.up.last.respond(200, { 'content-type': 'text/event-stream' });
  two.up.last.data(ev(2));
  two.up.last.fail('ECONNRESET');
  t.match(two.sent.at(-1), { t: 'end', code: 'upstream_reset', done: false });
});

t.test('non-stream: the body is collected and replied whole; an upstream error is relayed with its status', async (t) => {
  const ok = setup(false);
  ok.up.last.respond(200, { 'content-type': 'application/json', 'x-ratelimit-remaining-requests': '9', 'set-cookie': ['x'] }, '{"id":"c"}');
  t.match(ok.sent, [{ t: 'reply', status: 200, headers: { 'content-type': 'application/json', 'x-ratelimit-remaining-requests': '9' } }]);
  t.equal(Buffer.from((ok.sent[0] as { body: Uint8Array }).body).toString(), '{"id":"c"}');
  t.notOk('set-cookie' in (ok.sent[0] as { headers: object }).headers, 'headers are allow-listed');
  const bad = setup(false);
  bad.up.last.respond(422, {}, openAIError('nope'));
  t.match(bad.sent, [{ t: 'reply', status: 422, body: /nope/ }]);
  const html = setup(false);
  html.up.last.respond(404, {}, '<html>');
  t.match(html.sent, [{ t: 'reply', status: 404, body: /upstream_404/ }], 'a non-OpenAI error body becomes one');
});

t.test('non-stream: a 2xx body goes on as the bytes it came in (invalid UTF-8 is not replaced), its usage read from them', async (t) => {
  const body = Buffer.concat([Buffer.from('{"id":"c","note":"'), Buffer.from([0xff, 0xc3]), Buffer.from('é","usage":{"prompt_tokens":3,"completion_tokens":4}}')]);
  const s = setup(false);
  s.up.last.respond(200, { 'content-type': 'application/json' }, body);
  const reply = s.sent[0] as { t: string; body: Uint8Array; usage: unknown };
  t.equal(reply.t, 'reply');
  t.ok(Buffer.from(reply.body).equals(body), 'byte for byte');
  t.same(reply.usage, { promptTokens: 3, completionTokens: 4 });
});

t.test('gzip: an upstream that ends while decoded events wait for credit still delivers them all, and [DONE]', async (t) => {
  // The decoder reports its input consumed ('finish') while its last output may still wait, unread, in its own
  // buffer (the stream paused for credit): the stream must end after the last decoded byte, not at 'finish'. It
  // ended with upstream_truncated and the last events lost (the faults-backpressure gzip test on Node 22, whose
  // larger stream buffers hold more of that output).
  const up = new FakeUpstream();
  const sent: FromWorker[] = [];
  let wake: (() => void) | null = null;
  const ctx: ExchangeContext = {
    config, health: new MirrorHealth(config.health, 1, 5, 10_000), dispatch: up.dispatch, models: new ModelsCache(0),
    send: (m) => { sent.push(m); wake?.(); }, flushSoon: () => undefined, finished: () => undefined,
  };
  const nextSend = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
  const body = new TextEncoder().encode(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true }));
  const ex = new Exchange(ctx, { t: 'open', id: 9, kind: 'chat', body, reqId: 'r', traceparent: null, credit: 1000, limits: { firstByteMs: 0, idleMs: 0, totalMs: 0 } }, 'chat');
  ex.start();
  // about 30 KB decoded: two of zlib's 16 KB output chunks; the second (with [DONE]) waits while the first uses the credit
  const events = Array.from({ length: 240 }, (_, i) => ev(100 + (i % 7))).join('');
  const gz = gzipSync(events + 'data: [DONE]\n\n');
  up.last.respond(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
  up.last.data(gz);
  up.last.end(); // the whole compressed body is in: what is left is the client's pace
  // no credit until the decoder has surely taken all its input: a gunzip of the same bytes, started now, is done
  await new Promise<void>((resolve) => createGunzip().on('data', () => undefined).on('end', resolve).end(gz));
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  t.notOk(sent.some((m) => m.t === 'end'), 'nothing ends while decoded events wait for credit');
  let granted = 0;
  for (let turns = 0; turns < 10_000 && !sent.some((m) => m.t === 'end'); turns++) {
    const got = sent.reduce((n, m) => n + (m.t === 'data' ? m.chunk.byteLength : 0), 0);
    if (got > granted) {
      ex.credit(got - granted); // the client took everything sent so far
      granted = got;
    } else {
      await nextSend();
    }
  }
  t.match(sent.find((m) => m.t === 'end'), { t: 'end', done: true }, 'the stream ends clean ([DONE]), not as upstream_truncated');
  const data = Buffer.concat(sent.flatMap((m) => (m.t === 'data' ? [Buffer.from(m.chunk)] : []))).toString();
  t.ok(data === events, `every decoded event went out, in order (${data.length} of ${events.length} bytes; the main thread writes [DONE])`);
});
