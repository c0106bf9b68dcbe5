// Faults (§4, §5): every failure after the first byte is one error event and never a fake [DONE];
// retries, failover and the circuit breaker act only before the first byte; a worker crash loses one stream.
import t from 'tap';
import { startStack, chat, idle, nextEvent, within, KEY, type Stack } from './helpers/harness.js';
import type { SimAbortEvent } from '../src/simulator/index.js';
import { sseEvents } from './helpers/raw.js';

interface Events {
  data: string[];
  error: { code: string; message: string } | null;
  done: boolean;
  status: number;
  text: string;
}

/** Sends one streaming request with fetch: resolves when the status and headers arrive. */
function open(s: Stack, model: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat(model, { stream: true, ...extra })) });
}

/** Reads a response to its end and splits what arrived into data events, the error event and [DONE]. */
async function collect(res: Response): Promise<Events> {
  const text = await res.text();
  const out: Events = { data: [], error: null, done: false, status: res.status, text };
  for (const payload of await sseEvents(text)) {
    if (payload === '[DONE]') out.done = true;
    else {
      const v = JSON.parse(payload) as { error?: { code: string; message: string } };
      if (v.error) out.error = v.error;
      else out.data.push(payload);
    }
  }
  return out;
}

/** Streams one request with fetch and splits what arrived into data events, the error event and [DONE]. */
async function stream(s: Stack, model: string, extra: Record<string, unknown> = {}): Promise<Events> {
  return collect(await open(s, model, extra));
}

t.test('mid-stream failures end with one error event and no [DONE]', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '10', STREAM_IDLE_TIMEOUT: '400' });
  const cases: Array<[string, string]> = [
    ['sim/reset;after=3', 'upstream_reset'],
    ['sim/close;after=3', 'upstream_truncated'],
    ['sim/errorevent;after=3', 'upstream_error_event'],
    ['sim/stall;after=3', 'upstream_idle_timeout'],
  ];
  for (const [model, code] of cases) {
    const before = s.sim.stats.requests;
    const r = await stream(s, model);
    t.equal(r.status, 200, `${model}: the 200 had gone out`);
    t.ok(r.data.length >= 3, `${model}: the events before the failure arrived`);
    t.equal(r.error?.code, code, `${model}: error event ${code}`);
    t.notOk(r.done, `${model}: no [DONE]`);
    t.ok(r.text.trimEnd().endsWith('}'), `${model}: the error event is the last thing sent`);
    t.equal(s.sim.stats.requests - before, 1, `${model}: never a second upstream attempt once bytes are out`);
  }
  const upstreamMsg = await stream(s, 'sim/errorevent;after=1');
  t.match(upstreamMsg.error?.message, /upstream exploded/, 'the upstream error message reaches the client');
});

t.test('the SDK raises on those streams instead of returning partial text as success', async (t) => {
  const s = await startStack(t, { STREAM_IDLE_TIMEOUT: '400' });
  for (const model of ['sim/reset;after=3', 'sim/stall;after=3']) {
    const st = await s.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], stream: true });
    let text = '';
    const consume = async (): Promise<void> => {
      for await (const c of st) text += c.choices[0]?.delta.content ?? '';
    };
    await t.rejects(consume(), `${model}: for-await throws`);
    t.equal(text, 'tok0 tok1 ', `${model}: the partial text was delivered first`);
  }
});

t.test('a finish_reason then a clean close is a complete stream: [DONE] is added', async (t) => {
  const s = await startStack(t, {});
  const r = await stream(s, 'sim/nodone;tokens=3');
  t.equal(r.error, null);
  t.ok(r.done, '[DONE] sent');
});

t.test('failures before the first byte are real statuses; garbage and gzip are handled', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0' });
  const g = await stream(s, 'sim/garbage');
  t.equal(g.status, 502, 'a 200 with no event at all becomes a 502');
  const gz = await s.client.chat.completions.create({ model: 'sim/gzip;tokens=3', messages: [{ role: 'user', content: 'x' }] });
  t.equal(gz.choices[0]?.message.content, 'tok0 tok1 tok2 ', 'gzip body decoded, no content-encoding leaks');
  const gzs = await stream(s, 'sim/gzip;tokens=3');
  t.ok(gzs.done, 'gzip SSE decoded');
  t.equal(gzs.data.length, 4);
  const huge = await stream(s, 'sim/huge;size=1048576');
  t.ok(huge.done, 'a 1 MiB event is relayed whole');
});

t.test('retries with backoff, failover in mirror order, circuit breaker', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '3', RETRY_DELAY: '20', CIRCUIT_FAILURES: '1000' });
  const before = s.sim.stats.requests;
  const ok = await s.client.chat.completions.create({ model: 'sim/flaky;fail=2;status=503;tokens=2', messages: [{ role: 'user', content: 'x' }] });
  t.equal(ok.choices[0]?.message.content, 'tok0 tok1 ', 'succeeded after two upstream 503s');
  t.equal(s.sim.stats.requests - before, 3, 'three attempts');

  const fo = await startStack(t, { MAX_RETRIES: '2', RETRY_DELAY: '10', CIRCUIT_FAILURES: '2', CIRCUIT_RESET_MS: '60000', POOL_SIZE: '1' }, { sim: s.sim, mirrors: `http://127.0.0.1:1/v1/openai,${s.sim.baseUrl}` });
  for (let i = 0; i < 3; i++) {
    const r = await fo.client.chat.completions.create({ model: 'sim/echo;tokens=1', messages: [{ role: 'user', content: 'x' }] });
    t.equal(r.choices[0]?.message.content, 'tok0 ', `request ${i}: served by the second mirror`);
  }
  // the circuit state is shared by every worker and read by /status as it is: no waiting for a report
  const st = await fetchStatus(fo);
  t.equal(st.mirrors[0]?.circuit, 'open', 'the dead mirror’s circuit opened');
  t.equal(st.mirrors[1]?.circuit, 'closed', 'the live one stays closed');
  t.equal(st.mirrors[0]?.failures, 2, 'after CIRCUIT_FAILURES failures it is no longer tried');
});

async function fetchStatus(s: Stack): Promise<{ mirrors: Array<{ circuit: string; failures: number }> }> {
  return (await (await fetch(`${s.origin}/status`)).json()) as { mirrors: Array<{ circuit: string; failures: number }> };
}

t.test('a worker killed mid-stream: its stream ends per §4, the other stream completes, the pool restarts it', async (t) => {
  const s = await startStack(t, { POOL_SIZE: '2' });
  // each response's head is out before the kill (the head goes with the first bytes): the kill is mid-stream,
  // not before the first byte (that case is a status: the next test)
  const resA = await open(s, 'sim/echo;tokens=40;interval=50;seed=1');
  const resB = await open(s, 'sim/echo;tokens=40;interval=50;seed=2');
  t.equal(resA.status, 200, 'the first stream has started');
  t.same(s.service.state.pool.stats().busy, [1, 1], 'one stream on each worker');
  const a = collect(resA);
  const b = collect(resB);
  const upstreamAbort = nextEvent<SimAbortEvent>(s.sim, 'abort', (ev) => ev.model === 'sim/echo;tokens=40;interval=50;seed=1');
  const t0 = performance.now();
  await s.service.state.pool.killWorker(0);
  const ra = await a;
  const ended = performance.now() - t0;
  const rb = await b;
  t.equal(ra.error?.code, 'worker_crashed', 'the killed worker’s stream got an error event');
  t.notOk(ra.done, 'and no [DONE]');
  t.ok(ended < 1000, `it ended ${ended.toFixed(0)} ms after the kill (CONTRACT §5: within 1 s)`);
  t.ok(rb.done && rb.error === null, 'the other stream completed');
  const gone = await within(upstreamAbort, 5000, 'the dead worker’s upstream request closing');
  t.ok(gone.eventsSent < 40, `the dead worker’s upstream request was cut after ${gone.eventsSent} of 40 events`);
  await idle(s.service);
  t.equal(s.service.state.admission.inFlight, 0, 'slots freed');
  t.equal(s.service.state.pool.stats().restarts, 1, 'restart counted');
  const after = await stream(s, 'sim/echo;tokens=3');
  t.ok(after.done, 'the pool serves new streams');
  const st = (await (await fetch(`${s.origin}/status`)).json()) as { pool: { restarts: number } };
  t.equal(st.pool.restarts, 1, '/status counts it');
});

t.test('a worker killed before the first byte: a 502 worker_crashed status with Retry-After, not a 200', async (t) => {
  const s = await startStack(t, { POOL_SIZE: '1' });
  const pending = open(s, 'sim/slowheaders;delay=60000');
  await nextEvent(s.sim, 'request');
  await s.service.state.pool.killWorker(0);
  const res = await pending;
  t.equal(res.status, 502, 'a real status: nothing had reached the client');
  t.ok(res.headers.get('retry-after'), 'with Retry-After');
  const body = (await res.json()) as { error?: { code?: string; type?: string } };
  t.equal(body.error?.code, 'worker_crashed');
  t.equal(body.error?.type, 'server_error');
});

t.test('a worker that runs out of memory before it is ready stops the start with a clear message', async (t) => {
  // WORKER_MAX_OLD_GENERATION_MB=8 is too small to load the worker's modules: the worker dies with
  // ERR_WORKER_OUT_OF_MEMORY. The same exit mid-stream takes the path of the killed-worker test above.
  await t.rejects(startStack(t, { POOL_SIZE: '1', WORKER_MAX_OLD_GENERATION_MB: '8' }), /died before it was ready: .*memory/);
});
