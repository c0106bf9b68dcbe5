// Issue 12 §1: one model's 500s must not black out the instance. The circuit breaker counts only failures of the
// mirror itself, one state per mirror for the whole instance, one half-open probe at a time, and panic routing
// when every circuit is open (CONTRACT §5). Over sockets, against the simulator and a scripted upstream.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { startStack, nextEvent, within } from './helpers/harness.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import {
  HTML_500, JSON_HEADERS, healthy, openaiError, vllmError, startScriptedUpstream, type AbortEvent, type Reply, type UpstreamRequest,
} from './helpers/scripted-upstream.js';
import { call, sdkClient } from './helpers/sdk.js';
import { ready, status } from './helpers/observe.js';

const BROKEN = 'acme/broken-model';

/** The SDK user's view of a model whose upstream answers 500 with an OpenAI error body, and of the other models. */
interface Shape {
  readonly name: string;
  readonly start: (t: Test) => Promise<{ mirror: string; sim?: Simulator; upstreamCount: (model: string) => number }>;
  readonly broken: string;
  readonly healthy: string;
  readonly expected: string;
}

const shapes: Shape[] = [
  {
    name: 'simulator',
    start: async (t) => {
      const sim = await startSimulator();
      t.teardown(() => sim.close());
      return { mirror: sim.baseUrl, sim, upstreamCount: (m) => sim.requests.filter((r) => r.path.endsWith('/chat/completions') && (JSON.parse(r.body.toString()) as { model: string }).model === m).length };
    },
    broken: 'sim/error500',
    healthy: 'sim/echo;tokens=2',
    expected: 'tok0 tok1 ',
  },
  {
    name: 'scripted upstream (CRLF SSE, data: without a space, split events)',
    start: async (t) => {
      const up = await startScriptedUpstream(t, (req) =>
        req.model === BROKEN ? { status: 500, headers: JSON_HEADERS, body: [openaiError(`The model ${BROKEN} failed to load.`)] } : healthy(req, ['Hello', ' world']),
      );
      return { mirror: up.url, upstreamCount: (m) => up.count(m) };
    },
    broken: BROKEN,
    healthy: 'acme/fine-model',
    expected: 'Hello world',
  },
];

for (const shape of shapes) {
  t.test(`${shape.name}: a burst of 500s for one model (SDK retries on) leaves every other model served and the circuit closed`, async (t) => {
    const up = await shape.start(t);
    const s = await startStack(t, { CIRCUIT_FAILURES: '2', MAX_RETRIES: '2', RETRY_DELAY: '10', CIRCUIT_RESET_MS: '60000', POOL_SIZE: '1' }, { mirrors: up.mirror, ...(up.sim ? { sim: up.sim } : {}) });
    const sdk = sdkClient(s.baseURL, 2); // the SDK's default: a 500 is tried three times
    const calls = 3;
    for (let i = 0; i < calls; i++) {
      const r = await call(sdk, shape.broken);
      t.equal(r.status, 500, `call ${i}: the upstream's 500 reaches the user as a 500 (${r.code}: ${r.message})`);
      t.not(r.code, 'upstream_circuit_open', `call ${i}: never refused for breaker state`);
    }
    const attempts = s.logs.filter((l) => l.model === shape.broken && l.route === '/v1/chat/completions').length;
    t.equal(attempts, calls * 3, `the service saw ${calls} calls × 3 SDK attempts`);
    t.equal(up.upstreamCount(shape.broken), attempts, 'the upstream saw one request per SDK attempt: a 500 is not retried on the same mirror');

    const other = await call(sdk, shape.healthy);
    t.equal(other.status, 200, `another model is still served after ${attempts} upstream 500s (got ${other.status} ${other.code})`);
    t.equal(other.content, shape.expected, 'with its full answer');
    const streamed = await call(sdk, shape.healthy, { stream: true });
    t.equal(streamed.status, 200, 'streams of other models too');
    t.equal(streamed.content, shape.expected, 'every delta of the stream arrived');

    const st = await status(s);
    t.equal(st.mirrors[0]?.circuit, 'closed', '/status: the mirror’s circuit stayed closed');
    t.equal(st.mirrors[0]?.failures, 0, '/status: no mirror failure was counted for a model’s 500');
    const rd = await ready(s);
    t.equal(rd.status, 200, `/ready stays 200 (${rd.reasons.join(',')})`);
  });
}

// ---- what counts against a mirror ------------------------------------------------------------------------

interface Case {
  readonly name: string;
  /** Who answers first (mirror 0): the simulator, the scripted upstream, or nobody (connect refused). */
  readonly first: 'sim' | 'scripted' | 'dead';
  readonly model: string;
  readonly reply?: Reply;
  /** Whether the answer is a failure of the mirror itself. */
  readonly counts: boolean;
  /** The upstream's own message, when the client should get it. */
  readonly message?: RegExp;
}

const cases: Case[] = [
  { name: 'a 500 with an OpenAI error body (simulator)', first: 'sim', model: 'sim/error500', counts: false },
  { name: 'a 500 with an OpenAI error body (scripted)', first: 'scripted', model: 'acme/m', reply: { status: 500, headers: JSON_HEADERS, body: [openaiError('model failed')] }, counts: false, message: /model failed/ },
  { name: 'a 400 (simulator)', first: 'sim', model: 'sim/error400', counts: false },
  { name: 'a 429 (scripted, plain text)', first: 'scripted', model: 'acme/m', reply: { status: 429, headers: { 'content-type': 'text/plain', 'retry-after': '0' }, body: ['slow down'] }, counts: false },
  { name: 'a 500 with an OpenAI error body, gzip-encoded (scripted, in spite of accept-encoding: identity)', first: 'scripted', model: 'acme/m', reply: { status: 500, headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' }, body: [gzipSync(openaiError('model failed'))] }, counts: false, message: /model failed/ },
  { name: 'a 500 with an HTML body (scripted, nginx)', first: 'scripted', model: 'acme/m', reply: { status: 500, headers: { 'content-type': 'text/html' }, body: [HTML_500] }, counts: true },
  { name: 'a 500 with an HTML body, gzip-encoded (scripted)', first: 'scripted', model: 'acme/m', reply: { status: 500, headers: { 'content-type': 'text/html', 'content-encoding': 'gzip' }, body: [gzipSync(HTML_500)] }, counts: true },
  { name: 'a 500 with a plain-text body (scripted)', first: 'scripted', model: 'acme/m', reply: { status: 500, headers: { 'content-type': 'text/plain' }, body: ['Internal Server Error'] }, counts: true },
  { name: 'a 502 (simulator)', first: 'sim', model: 'sim/flaky;fail=1;status=502', counts: true },
  { name: 'a 503 (simulator)', first: 'sim', model: 'sim/error503', counts: true },
  { name: 'a 504 (simulator)', first: 'sim', model: 'sim/flaky;fail=1;status=504', counts: true },
  { name: 'a 503 with an OpenAI body (scripted)', first: 'scripted', model: 'acme/m', reply: { status: 503, headers: JSON_HEADERS, body: [openaiError('overloaded', 'overloaded')] }, counts: true },
  { name: 'a reset before headers (scripted)', first: 'scripted', model: 'acme/m', reply: { end: 'reset-before-headers' }, counts: true },
  { name: 'a connect error (nothing listens)', first: 'dead', model: 'acme/m', counts: true },
];

t.test('what counts against a mirror: 502/503/504, non-OpenAI 500s, resets and connect errors do; a 4xx or an OpenAI-body 500 does not', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  for (const c of cases) {
    // a fresh instance per case: CIRCUIT_FAILURES=1, so one counted failure opens mirror 0 and the next request goes to mirror 1
    const scripted = await startScriptedUpstream(t, (req) => (req.model === 'probe/next' ? healthy(req) : (c.reply ?? healthy(req))));
    const first = c.first === 'sim' ? sim.baseUrl : c.first === 'scripted' ? scripted.url : 'http://127.0.0.1:1/v1';
    const second = c.first === 'sim' ? scripted.url : sim.baseUrl;
    const s = await startStack(t, { CIRCUIT_FAILURES: '1', MAX_RETRIES: '0', CIRCUIT_RESET_MS: '60000', POOL_SIZE: '0' }, { sim, mirrors: `${first},${second}` });
    const r = await call(s.client, c.model);
    t.not(r.status, 200, `${c.name}: the client sees the failure (${r.status} ${r.code})`);
    t.not(r.code, 'upstream_circuit_open', `${c.name}: never a breaker refusal`);
    if (c.message) t.match(r.message, c.message, `${c.name}: with the upstream's own message`);
    const secondBefore = c.first === 'sim' ? scripted.count('probe/next') : sim.requests.length;
    const next = await call(s.client, 'probe/next', { maxTokens: 1 });
    const servedBySecond = (c.first === 'sim' ? scripted.count('probe/next') : sim.requests.length) > secondBefore;
    if (c.counts) {
      t.ok(servedBySecond, `${c.name}: counted against mirror 0, whose circuit opened, so the next request went to mirror 1 (${next.status})`);
      t.equal(next.status, 200, `${c.name}: and mirror 1 answered it`);
    } else {
      t.notOk(servedBySecond, `${c.name}: not counted against mirror 0: the next request still went to it (${next.status})`);
    }
    const st = await status(s);
    t.equal(st.mirrors[0]?.failures, c.counts ? 1 : 0, `${c.name}: /status mirror 0 failures`);
    t.equal(st.mirrors[0]?.circuit, c.counts ? 'open' : 'closed', `${c.name}: /status mirror 0 circuit`);
    await s.service.shutdown(0);
    await scripted.close();
  }
});

// ---- retries of a 500 -----------------------------------------------------------------------------------

t.test('a 500 with an OpenAI body is retried only on another mirror, and the mirror that sent it stays first', async (t) => {
  const broken = await startScriptedUpstream(t, () => ({ status: 500, headers: JSON_HEADERS, body: [openaiError(`${BROKEN} crashed`)] }));
  const alone = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '10', CIRCUIT_FAILURES: '2', POOL_SIZE: '1' }, { mirrors: broken.url });
  const r = await call(alone.client, BROKEN);
  t.equal(r.status, 500, 'one mirror: the 500 is relayed');
  t.match(r.message, /crashed/, 'with the upstream’s own message');
  t.equal(broken.count(BROKEN), 1, 'one mirror: the upstream saw the request once (MAX_RETRIES=3 does not repeat a 500 on it)');

  // two mirrors: the broken one first, the simulator second (it echoes any model name that is not sim/…)
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const s = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '10', CIRCUIT_FAILURES: '2', CIRCUIT_RESET_MS: '60000', POOL_SIZE: '1' }, { sim, mirrors: `${broken.url},${sim.baseUrl}` });
  const before = broken.count(BROKEN);
  const n = 5;
  for (let i = 0; i < n; i++) {
    const got = await call(s.client, BROKEN, { maxTokens: 2 });
    t.equal(got.status, 200, `call ${i}: the 500 was retried on the other mirror, which answered (${got.status} ${got.code})`);
    t.equal(got.content, 'tok0 tok1 ', `call ${i}: the other mirror’s answer`);
  }
  t.equal(broken.count(BROKEN) - before, n, `the first mirror saw each of the ${n} calls once: its circuit never opened (CIRCUIT_FAILURES=2)`);
  t.equal(sim.requests.length, n, 'the second mirror saw each call once');
  const st = await status(s);
  t.same(st.mirrors.map((m) => m.circuit), ['closed', 'closed'], '/status: both circuits closed');
});

// ---- one state for the instance, /ready, panic routing ----------------------------------------------------

t.test('POOL_SIZE=2: CIRCUIT_FAILURES failures in total open the circuit; /ready and panic routing when every circuit is open', async (t) => {
  let gate!: () => void;
  const held = new Promise<void>((r) => (gate = r));
  let mode: 'held503' | '503' | 'healthy' = 'held503';
  const up0 = await startScriptedUpstream(t, (req) => {
    if (mode === 'healthy') return healthy(req);
    const reply: Reply = { status: 503, headers: JSON_HEADERS, body: [openaiError('scripted mirror overloaded', 'overloaded')] };
    return mode === 'held503' ? { ...reply, headersAfter: held } : reply;
  });
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const s = await startStack(t, { POOL_SIZE: '2', CIRCUIT_FAILURES: '3', MAX_RETRIES: '0', CIRCUIT_RESET_MS: '60000' }, { sim, mirrors: `${up0.url},${sim.baseUrl}` });

  // three requests in flight at once: the pool spreads them over both workers
  let arrived = 0;
  const allThree = new Promise<void>((resolve) => up0.on('request', () => ++arrived === 3 && resolve()));
  const inflight = [0, 1, 2].map(() => call(s.client, 'acme/m'));
  await within(allThree, 5000, 'three requests reaching mirror 0');
  const busy = s.service.state.pool.stats().busy;
  t.ok(busy.length === 2 && busy.every((b) => b >= 1), `the three failures come from both workers (streams per worker: ${busy.join(', ')})`);
  gate();
  for (const r of await Promise.all(inflight)) t.equal(r.status, 503, 'each sees the upstream’s 503');
  mode = '503';

  let st = await status(s);
  t.equal(st.mirrors[0]?.circuit, 'open', `3 failures in total (not per worker) open mirror 0 (consecutive ${st.mirrors[0]?.consecutive_failures})`);
  let rd = await ready(s);
  t.equal(rd.status, 200, '/ready: one open circuit of two is not all_upstreams_open');
  const toSecond = await call(s.client, 'acme/m', { maxTokens: 1 });
  t.equal(toSecond.status, 200, 'the next request skips the open mirror and is served by the second');
  t.equal(up0.count('acme/m'), 3, 'mirror 0 did not see it');

  // mirror 1 fails too: the simulator's 503s
  for (let i = 0; i < 3; i++) {
    const r = await call(s.client, 'sim/error503');
    t.equal(r.status, 503, `sim/error503 #${i}: relayed`);
    if (i === 1) {
      rd = await ready(s);
      t.equal(rd.status, 200, '/ready still 200 while mirror 1 is short of CIRCUIT_FAILURES');
    }
  }
  st = await status(s);
  t.same(st.mirrors.map((m) => m.circuit), ['open', 'open'], 'both circuits open');
  rd = await ready(s);
  t.equal(rd.status, 503, '/ready: 503 once every circuit is open');
  t.ok(rd.reasons.includes('all_upstreams_open'), `/ready says all_upstreams_open (${rd.reasons.join(',')})`);

  // panic routing: still sent, to the mirror whose circuit opened first (mirror 0)
  const before0 = up0.requests.length;
  const beforeSim = sim.requests.length;
  const panic = await call(s.client, 'acme/m');
  t.equal(up0.requests.length - before0, 1, 'every circuit open: the request is still sent, to the mirror that opened first');
  t.equal(sim.requests.length, beforeSim, 'not to the one that opened later');
  t.equal(panic.status, 503, 'the client gets that mirror’s own answer');
  t.match(panic.message, /scripted mirror overloaded/, 'its body, not a breaker refusal');
  t.not(panic.code, 'upstream_circuit_open', 'no 503 upstream_circuit_open exists');
  mode = 'healthy';
  const healed = await call(s.client, 'acme/m');
  t.equal(healed.status, 200, 'when that mirror answers again the request succeeds');
  t.equal(healed.content, 'Hello world', 'with its answer');
  st = await status(s);
  t.equal(st.mirrors[0]?.circuit, 'closed', 'and its success closes its circuit');
  rd = await ready(s);
  t.equal(rd.status, 200, '/ready back to 200');
});

// ---- half-open: one probe at a time -----------------------------------------------------------------------

t.test('half-open lets one probe through at a time; an aborted request that did not hold the probe does not free it', async (t) => {
  const RESET = 3000;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const up0 = await startScriptedUpstream(t, (req: UpstreamRequest): Reply => {
    if (req.model === 'acme/hold') return { ...healthy(req), headersAfter: gate };
    return { status: 503, headers: JSON_HEADERS, body: [openaiError('scripted mirror overloaded', 'overloaded')] };
  });
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const s = await startStack(t, { POOL_SIZE: '1', CIRCUIT_FAILURES: '1', MAX_RETRIES: '0', CIRCUIT_RESET_MS: String(RESET) }, { sim, mirrors: `${up0.url},${sim.baseUrl}` });
  const holdSeen = (n: number): Promise<UpstreamRequest> => {
    let k = 0;
    return nextEvent<UpstreamRequest>(up0, 'request', (r) => r.model === 'acme/hold' && ++k === n);
  };

  const opened = await call(s.client, 'sim/error503');
  t.equal(opened.status, 503, 'mirror 0 answers 503');
  t.equal((await status(s)).mirrors[0]?.circuit, 'open', 'one failure (CIRCUIT_FAILURES=1) opens mirror 0');
  await sleep(RESET); // the reset time itself is what is tested: no event marks its end
  t.equal((await status(s)).mirrors[0]?.circuit, 'half_open', 'after CIRCUIT_RESET_MS it is half-open');

  // P: the probe, held open by the upstream
  const p = call(s.client, 'acme/hold');
  await within(holdSeen(1), 5000, 'the probe reaching mirror 0');

  // a second request while the probe is out goes to the other mirror, not a second probe; it opens mirror 1
  const up0Before = up0.requests.length;
  const other = await call(s.client, 'sim/error503');
  t.equal(up0.requests.length, up0Before, 'no second probe: mirror 0 did not see the second request');
  t.equal(other.status, 503, 'mirror 1 (the simulator) answered it');
  t.equal(sim.requests.length, 1, 'the simulator saw it');

  // Q: both circuits open, mirror 0 opened first and its probe is out: panic routing sends Q to it, as no probe
  const ac = new AbortController();
  const q = call(s.client, 'acme/hold', { signal: ac.signal }).catch(() => null);
  const qSeen = holdSeen(1);
  const first = await within(Promise.race([qSeen.then(() => 'upstream'), q.then((r) => `answered ${r?.status} ${r?.code}`)]), 5000, 'Q reaching an upstream or being answered');
  t.equal(first, 'upstream', 'every circuit open: Q is still sent, to the mirror whose circuit opened first');
  const qAborted = nextEvent<AbortEvent>(up0, 'abort', (ev) => ev.model === 'acme/hold');
  ac.abort();
  await within(qAborted, 5000, 'mirror 0 seeing Q’s client leave');
  t.equal((await status(s)).mirrors[0]?.circuit, 'half_open', 'Q’s abort did not end the probe it never held');

  // R fails on mirror 0: had Q freed the probe, R would be a probe and its failure would reopen the circuit
  const r = await call(s.client, 'sim/error503');
  t.equal(up0.requests.length, up0Before + 2, 'R went to mirror 0 (panic routing)');
  t.equal(r.status, 503, 'R gets mirror 0’s 503');
  t.not(r.code, 'upstream_circuit_open', 'not a breaker refusal');
  t.equal((await status(s)).mirrors[0]?.circuit, 'half_open', 'R was not a probe: the circuit is still half-open, waiting for P');

  release();
  const pr = await p;
  t.equal(pr.status, 200, 'the probe succeeds');
  t.equal(pr.content, 'Hello world', 'with its answer');
  t.equal((await status(s)).mirrors[0]?.circuit, 'closed', 'its success closes the circuit');
});

t.test('half-open: a request that started before the circuit opened and is aborted while a probe is out does not free the probe', async (t) => {
  const RESET = 2000;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const up0 = await startScriptedUpstream(t, (req: UpstreamRequest): Reply => {
    if (req.model?.startsWith('acme/hold')) return { ...healthy(req), headersAfter: gate };
    if (req.model === 'acme/check') return healthy(req);
    return { status: 503, headers: JSON_HEADERS, body: [openaiError('scripted mirror overloaded', 'overloaded')] };
  });
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const s = await startStack(t, { POOL_SIZE: '1', CIRCUIT_FAILURES: '1', MAX_RETRIES: '0', CIRCUIT_RESET_MS: String(RESET) }, { sim, mirrors: `${up0.url},${sim.baseUrl}` });

  // L: in flight on mirror 0 while its circuit is still closed
  const ac = new AbortController();
  const l = call(s.client, 'acme/hold-long', { signal: ac.signal }).catch(() => null);
  await within(nextEvent<UpstreamRequest>(up0, 'request', (r) => r.model === 'acme/hold-long'), 5000, 'L reaching mirror 0');
  const failed = await call(s.client, 'sim/error503');
  t.equal(failed.status, 503, 'a 503 from mirror 0');
  await sleep(RESET); // the reset time itself is what is tested: no event marks its end

  // P: the half-open probe, held open by the upstream
  const p = call(s.client, 'acme/hold-probe');
  await within(nextEvent<UpstreamRequest>(up0, 'request', (r) => r.model === 'acme/hold-probe'), 5000, 'the probe reaching mirror 0');

  // L's client leaves: L never held the probe
  const lGone = nextEvent<AbortEvent>(up0, 'abort', (ev) => ev.model === 'acme/hold-long');
  ac.abort();
  await within(lGone, 5000, 'mirror 0 seeing L’s client leave');
  await l;

  const up0Before = up0.count('acme/check');
  const simBefore = sim.requests.length;
  const r = await call(s.client, 'acme/check', { maxTokens: 1 });
  t.equal(r.status, 200, 'the next request is served');
  t.equal(up0.count('acme/check'), up0Before, 'not as a second probe on mirror 0: its probe is still out');
  t.equal(sim.requests.length, simBefore + 1, 'by the other mirror');

  release();
  const pr = await p;
  t.equal(pr.status, 200, 'the probe succeeds');
  t.equal((await status(s)).mirrors[0]?.circuit, 'closed', 'and closes the circuit');
});

t.test('two mirrors that both answer 500 for a model: the request is not sent twice to either', async (t) => {
  const a = await startScriptedUpstream(t, () => ({ status: 500, headers: JSON_HEADERS, body: [openaiError('mirror A: model failed')] }));
  const sim = await startSimulator(); // mirror B
  t.teardown(() => sim.close());
  const s = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '10', CIRCUIT_FAILURES: '100', POOL_SIZE: '0' }, { sim, mirrors: `${a.url},${sim.baseUrl}` });
  const r = await call(s.client, 'sim/error500');
  t.equal(r.status, 500, 'the 500 reaches the client');
  t.equal(a.count('sim/error500'), 1, `mirror A saw the request ${a.count('sim/error500')} time(s)`);
  const seenByB = sim.requests.filter((q) => q.path.endsWith('/chat/completions')).length;
  t.equal(seenByB, 1, `mirror B saw it ${seenByB} time(s)`);
});

t.test('other servers’ error bodies (vLLM, TGI): the message reaches the client as an OpenAI error; one model failing is not the mirror', async (t) => {
  const bodies: Array<[string, string]> = [
    ['vLLM / SGLang', vllmError('CUDA out of memory for model X')],
    ['TGI', JSON.stringify({ error: 'Input validation error: inputs tokens + max_new_tokens must be <= 4096', error_type: 'validation' })],
  ];
  for (const [shape, body] of bodies) {
    const a = await startScriptedUpstream(t, () => ({ status: 500, headers: JSON_HEADERS, body: [body] }));
    const s = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '10', POOL_SIZE: '0', CIRCUIT_FAILURES: '2' }, { mirrors: a.url });
    for (let i = 0; i < 3; i++) {
      const r = await call(s.client, 'acme/x');
      t.equal(r.status, 500, `${shape}: the 500 reaches the client`);
      t.match(r.message, shape === 'TGI' ? /Input validation error/ : /CUDA out of memory/, `${shape}: with the upstream’s message, not a generic one`);
    }
    const st = await status(s);
    t.equal(st.mirrors[0]?.circuit, 'closed', `${shape}: three model failures do not open the mirror’s circuit`);
    t.equal(a.count('acme/x'), 3, `${shape}: one upstream request per call (a lone mirror: a 500 is not retried)`);
  }
});
