// Attempts (unit, fake dispatcher and clock): mirror choice, backoff, Retry-After, circuit verdicts, what reaches the owner.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { Attempts, type AttemptOwner, type RetryPolicy } from '../workers/attempts.js';
import type { MirrorHealth, WorkerErrorCode } from '../workers/protocol.js';
import { FakeUpstream, ManualClock, health, openAIError } from './helpers/fakes.js';

type Heard =
  | { kind: 'response'; status: number }
  | { kind: 'data'; text: string }
  | { kind: 'end' }
  | { kind: 'bodyError' }
  | { kind: 'errorResponse'; status: number; body: string; headers: IncomingHttpHeaders }
  | { kind: 'fail'; code: WorkerErrorCode };

class Owner implements AttemptOwner {
  committed = false;
  readonly heard: Heard[] = [];
  onResponse(status: number): void {
    this.heard.push({ kind: 'response', status });
  }
  onData(chunk: Buffer): void {
    this.heard.push({ kind: 'data', text: chunk.toString() });
  }
  onEnd(): void {
    this.heard.push({ kind: 'end' });
  }
  onBodyError(): void {
    this.heard.push({ kind: 'bodyError' });
  }
  onErrorResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): void {
    this.heard.push({ kind: 'errorResponse', status, body: body.toString(), headers });
  }
  onFail(code: WorkerErrorCode): void {
    this.heard.push({ kind: 'fail', code });
  }
  get last(): Heard | undefined {
    return this.heard.at(-1);
  }
}

interface Setup {
  readonly up: FakeUpstream;
  readonly clock: ManualClock;
  readonly owner: Owner;
  readonly h: MirrorHealth;
  readonly a: Attempts;
}

function setup(o: { mirrors?: number; maxRetries?: number; retryDelayMs?: number; retryAfterCapMs?: number; deadlineMs?: number; failuresToOpen?: number } = {}): Setup {
  const clock = new ManualClock();
  const n = o.mirrors ?? 1;
  const h = health(n, o.failuresToOpen ?? 5, 10_000, () => clock.now());
  const policy: RetryPolicy = {
    mirrors: Array.from({ length: n }, (_, i) => `http://mirror${i}.test/v1`),
    maxRetries: o.maxRetries ?? 3,
    retryDelayMs: o.retryDelayMs ?? 100,
    retryAfterCapMs: o.retryAfterCapMs ?? 5000,
  };
  const up = new FakeUpstream();
  const owner = new Owner();
  const a = new Attempts(h, up.dispatch, policy, { kind: 'chat', body: new Uint8Array(2), stream: true, reqId: 'r1', traceparent: null }, clock.now() + (o.deadlineMs ?? 60_000), owner, () => 0.5, clock);
  return { up, clock, owner, h, a };
}

t.test('a 2xx on the first attempt goes to the owner with its body; the mirror is healthy', async (t) => {
  const { up, owner, h, a } = setup();
  a.start();
  t.equal(up.calls.length, 1);
  t.equal(up.last.req.mirror, 'http://mirror0.test/v1');
  up.last.respond(200, {}, 'hello');
  t.same(owner.heard, [{ kind: 'response', status: 200 }, { kind: 'data', text: 'hello' }, { kind: 'end' }]);
  t.equal(a.count, 1);
  t.equal(h.view(0).consecutiveFailures, 0);
});

t.test('connect errors: backoff doubles with jitter, mirrors are tried in order, each failure counted on its mirror', async (t) => {
  const { up, clock, owner, h, a } = setup({ mirrors: 2 });
  a.start();
  up.last.fail();
  t.same(clock.waits, [100], 'first backoff: RETRY_DELAY (jitter 0.75–1.25 at its middle)');
  clock.advance(100);
  t.equal(up.last.req.mirror, 'http://mirror1.test/v1', 'the retry goes to the next mirror');
  up.last.fail();
  t.same(clock.waits, [100, 200], 'then twice that');
  clock.advance(200);
  t.equal(up.last.req.mirror, 'http://mirror0.test/v1', 'and around the list again');
  up.last.respond(200, {}, 'ok');
  t.equal(owner.heard[0]?.kind, 'response', 'only the final response reached the owner');
  t.same([h.view(0).failures, h.view(1).failures], [1, 1]);
  t.equal(h.view(0).consecutiveFailures, 0, 'the success reset mirror 0');
});

t.test('retries run out: the last upstream error is relayed with its body', async (t) => {
  const { up, clock, owner, a } = setup({ maxRetries: 1 });
  a.start();
  up.last.respond(503, { 'retry-after': '0' }, openAIError('first'));
  clock.advance(100);
  up.last.respond(503, {}, openAIError('second'));
  t.equal(up.calls.length, 2, 'MAX_RETRIES=1: two attempts');
  t.match(owner.last, { kind: 'errorResponse', status: 503, body: /second/ });
});

t.test('a 500 with an OpenAI error body: one model failing is not the mirror failing', async (t) => {
  const one = setup({ failuresToOpen: 1 });
  one.a.start();
  one.up.last.respond(500, {}, openAIError());
  t.equal(one.up.calls.length, 1, 'a lone mirror: no retry of a 500');
  t.match(one.owner.last, { kind: 'errorResponse', status: 500 });
  t.equal(one.h.view(0).circuit, 'closed', 'the circuit stays closed');
  t.equal(one.h.view(0).failures, 0);

  const two = setup({ mirrors: 2 });
  two.a.start();
  two.up.last.respond(500, {}, openAIError());
  two.clock.advance(100);
  t.equal(two.up.calls.length, 2, 'with another mirror: retried');
  t.equal(two.up.last.req.mirror, 'http://mirror1.test/v1', 'on the other mirror only');
});

t.test('a 500 without an OpenAI body, 502, 503, 504 and resets before headers are mirror failures', async (t) => {
  for (const [what, act] of [
    ['500 html', (s: Setup) => s.up.last.respond(500, {}, '<html>oops</html>')],
    ['502', (s: Setup) => s.up.last.respond(502, {}, '')],
    ['503', (s: Setup) => s.up.last.respond(503, {}, openAIError())],
    ['504', (s: Setup) => s.up.last.respond(504, {}, '')],
    ['reset', (s: Setup) => s.up.last.fail('ECONNRESET', 'socket hang up')],
    ['timeout', (s: Setup) => s.up.last.fail('UND_ERR_HEADERS_TIMEOUT', 'headers timeout')],
  ] as const) {
    const s = setup({ maxRetries: 0 });
    s.a.start();
    act(s);
    t.equal(s.h.view(0).failures, 1, `${what}: counted against the mirror`);
  }
  const s = setup({ maxRetries: 0 });
  s.a.start();
  s.up.last.fail('UND_ERR_HEADERS_TIMEOUT', 'headers timeout');
  t.same(s.owner.last, { kind: 'fail', code: 'upstream_timeout' }, 'a timeout fails as upstream_timeout');
});

t.test('4xx: relayed at once, never retried, never a mirror failure; 401/403 and 3xx are failures of their own', async (t) => {
  for (const status of [400, 404, 422]) {
    const s = setup({ failuresToOpen: 1 });
    s.a.start();
    s.up.last.respond(status, {}, openAIError('bad'));
    t.equal(s.up.calls.length, 1, `${status}: one attempt`);
    t.match(s.owner.last, { kind: 'errorResponse', status });
    t.equal(s.h.view(0).circuit, 'closed');
  }
  for (const [status, code] of [[401, 'upstream_auth'], [403, 'upstream_auth'], [302, 'upstream_redirect']] as const) {
    const s = setup();
    s.a.start();
    s.up.last.respond(status, {});
    t.same(s.owner.last, { kind: 'fail', code }, `${status} → ${code}`);
    t.ok(s.up.last.controller.aborted, 'its body is not read');
  }
});

t.test('429: the wait is the larger of backoff and Retry-After, capped by RETRY_AFTER_CAP', async (t) => {
  const s = setup({ retryAfterCapMs: 2000 });
  s.a.start();
  s.up.last.respond(429, { 'retry-after': '1' }, openAIError('slow down'));
  t.same(s.clock.waits, [1000], 'Retry-After 1 s over a 100 ms backoff');
  s.clock.advance(1000);
  s.up.last.respond(429, { 'retry-after-ms': '60000' }, openAIError());
  t.same(s.clock.waits, [1000, 2000], 'a minute asked, the cap granted');
});

t.test('a retry that would pass the first-byte deadline is not made: the error goes out now', async (t) => {
  const s = setup({ deadlineMs: 500 });
  s.a.start();
  s.up.last.respond(429, { 'retry-after': '1' }, openAIError('later'));
  t.equal(s.clock.waits.length, 0, 'no wait scheduled');
  t.match(s.owner.last, { kind: 'errorResponse', status: 429 });
});

t.test('a body that fails before the owner committed is retried; after, it is the owner’s', async (t) => {
  const s = setup({ mirrors: 2 });
  s.a.start();
  s.up.last.respond(200).data('partial');
  s.up.last.fail('ECONNRESET');
  t.equal(s.h.view(0).failures, 1, 'the dropped response counts against its mirror');
  s.clock.advance(100);
  t.equal(s.up.calls.length, 2, 'not committed: a second attempt');
  s.owner.committed = true;
  s.up.last.respond(200).data('bytes out');
  s.up.last.fail('ECONNRESET');
  t.same(s.owner.last, { kind: 'bodyError' }, 'committed: the owner hears the failure');
  t.equal(s.clock.waits.length, 1, 'and no retry was scheduled');
});

t.test('abort: no more attempts, a probe held is released, late events are dropped', async (t) => {
  const s = setup({ failuresToOpen: 1 });
  const p0 = { index: 0, probe: 0 };
  s.h.failure(p0);
  s.clock.advance(10_000);
  s.a.start();
  t.equal(s.h.view(0).circuit, 'half_open', 'this request is the probe');
  s.a.abort();
  t.ok(s.up.last.controller.aborted, 'the upstream request is cut');
  s.up.last.respond(200, {}, 'late');
  t.same(s.owner.heard, [], 'nothing reaches the owner after abort');
  t.ok(s.h.pick(0)!.probe !== 0, 'the released probe can be taken by the next request');
});

t.test('expire: no headers by the deadline is a mirror failure and upstream_timeout; a retry wait relays its error', async (t) => {
  const s = setup();
  s.a.start();
  s.a.expire();
  t.equal(s.h.view(0).failures, 1);
  t.same(s.owner.last, { kind: 'fail', code: 'upstream_timeout' });
  t.ok(s.up.last.controller.aborted);

  const w = setup();
  w.a.start();
  w.up.last.respond(503, {}, openAIError('busy'));
  w.a.expire();
  t.match(w.owner.last, { kind: 'errorResponse', status: 503, body: /busy/ });
  w.clock.advance(1000);
  t.equal(w.up.calls.length, 1, 'the scheduled retry never runs');
});
