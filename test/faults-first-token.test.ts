// Issue 12 §5 (first token): REQUEST_TIMEOUT covers the time to the first upstream event of a stream, not only its
// headers (CONTRACT §5); once an event came, STREAM_IDLE_TIMEOUT applies between upstream bytes.
import t from 'tap';
import { startStack, chat, within, KEY, nextEvent } from './helpers/harness.js';
import { SSE_HEADERS, chatChunk, ssePing, sseEvent, startScriptedUpstream, type AbortEvent, type Piece } from './helpers/scripted-upstream.js';
import { call } from './helpers/sdk.js';

const REQUEST_TIMEOUT = 500;
const STREAM_IDLE_TIMEOUT = 1500;
const ENV = { REQUEST_TIMEOUT: String(REQUEST_TIMEOUT), STREAM_IDLE_TIMEOUT: String(STREAM_IDLE_TIMEOUT), MAX_RETRIES: '0', POOL_SIZE: '1' };

/** A `: ping` every 100 ms, CRLF-framed, for `ms`. */
function pings(ms: number): Piece[] {
  const out: Piece[] = [];
  for (let at = 0; at < ms; at += 100) out.push(ssePing(), { wait: 100 });
  return out;
}

t.test('200 and SSE headers, then only pings: the client gets a real 504 upstream_timeout after REQUEST_TIMEOUT', async (t) => {
  const up = await startScriptedUpstream(t, () => ({ status: 200, headers: SSE_HEADERS, body: pings(STREAM_IDLE_TIMEOUT * 4), end: 'hang' }));
  const s = await startStack(t, ENV, { mirrors: up.url });
  const aborted = nextEvent<AbortEvent>(up, 'abort');
  const t0 = performance.now();
  const r = await within(call(s.client, 'acme/pings', { stream: true }), STREAM_IDLE_TIMEOUT * 3, 'an answer to a stream whose upstream only pings');
  const ms = performance.now() - t0;
  t.equal(r.status, 504, `a real status: nothing had been sent to the client (${r.status} ${r.code})`);
  t.equal(r.code, 'upstream_timeout', 'upstream_timeout (the first-token deadline), not upstream_idle_timeout');
  t.ok(ms >= REQUEST_TIMEOUT, `not before REQUEST_TIMEOUT (${ms.toFixed(0)} ms)`);
  t.ok(ms < STREAM_IDLE_TIMEOUT, `pings did not extend it to STREAM_IDLE_TIMEOUT (${ms.toFixed(0)} ms < ${STREAM_IDLE_TIMEOUT})`);
  const ev = await within(aborted, 2000, 'the upstream request being cancelled');
  t.ok(ev.written > 0, `the upstream had sent ${ev.written} bytes of pings when it was cancelled`);

  // the same seen with fetch: status, JSON body, no SSE
  const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('acme/pings', { stream: true })) });
  t.equal(res.status, 504, 'fetch: 504');
  t.match(res.headers.get('content-type'), /application\/json/, 'fetch: a JSON error, not an event stream');
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_timeout', 'fetch: upstream_timeout');
});

t.test('after the first event, a silence longer than REQUEST_TIMEOUT but shorter than STREAM_IDLE_TIMEOUT is fine', async (t) => {
  const gap = Math.round((REQUEST_TIMEOUT + STREAM_IDLE_TIMEOUT) / 2);
  const up = await startScriptedUpstream(t, (req) => ({
    status: 200,
    headers: SSE_HEADERS,
    body: [sseEvent(chatChunk(req.model ?? '', 'one')), { wait: gap }, sseEvent(chatChunk(req.model ?? '', ' two', 'stop')), sseEvent('[DONE]')],
  }));
  const s = await startStack(t, ENV, { mirrors: up.url });
  const r = await call(s.client, 'acme/slow', { stream: true });
  t.equal(r.status, 200, `scripted: the stream completes (${r.code ?? ''})`);
  t.equal(r.content, 'one two', 'scripted: both events arrived');

  const sim = await startStack(t, ENV);
  const e = await call(sim.client, `sim/echo;tokens=3;interval=${gap}`, { stream: true });
  t.equal(e.status, 200, `simulator: events ${gap} ms apart complete (${e.code ?? ''})`);
  t.equal(e.content, 'tok0 tok1 tok2 ', 'simulator: every event arrived');
});

t.test('after the first event, silence past STREAM_IDLE_TIMEOUT ends the stream with an upstream_idle_timeout event', async (t) => {
  const up = await startScriptedUpstream(t, (req) => ({ status: 200, headers: SSE_HEADERS, body: [sseEvent(chatChunk(req.model ?? '', 'one'))], end: 'hang' }));
  const s = await startStack(t, ENV, { mirrors: up.url });
  for (const [name, stack, model] of [['scripted', s, 'acme/idle'], ['simulator', await startStack(t, ENV), 'sim/stall;after=1']] as const) {
    const t0 = performance.now();
    const r = await within(call(stack.client, model, { stream: true }), STREAM_IDLE_TIMEOUT * 4, `${name}: the stalled stream ending`);
    const ms = performance.now() - t0;
    t.equal(r.code, 'upstream_idle_timeout', `${name}: an error event upstream_idle_timeout (the 200 had gone out)`);
    t.ok(ms >= STREAM_IDLE_TIMEOUT, `${name}: after STREAM_IDLE_TIMEOUT, not REQUEST_TIMEOUT (${ms.toFixed(0)} ms)`);
  }
});
