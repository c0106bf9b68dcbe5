// Timeouts with their own names (§5), heartbeats, the guide's ×0.8 rule, client stalls, memory shedding.
import t from 'tap';
import { startStack, chat, idle, nextEvent, within, KEY, type Stack } from './helpers/harness.js';
import { openSocket, post, sseEvents } from './helpers/raw.js';
import type { SimAbortEvent } from '../src/simulator/index.js';
import { MemoryMonitor } from '../src/memory.js';
import type { CollectedMsg } from '../workers/protocol.js';

async function streamText(s: Stack, model: string): Promise<string> {
  const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat(model, { stream: true })) });
  return res.text();
}

/** The error of the stream's last event (comment lines, such as the writer's `:` probe, are no part of an event). */
async function errorOf(text: string): Promise<{ code: string; message: string } | null> {
  const last = (await sseEvents(text)).at(-1) ?? '';
  if (!last.startsWith('{')) return null;
  return (JSON.parse(last) as { error?: { code: string; message: string } }).error ?? null;
}

t.test('STREAM_TIMEOUT ends a long stream with stream_timeout; under load it is × 0.8', async (t) => {
  const s = await startStack(t, { STREAM_TIMEOUT: '1000', MAX_CONCURRENT_CONNECTIONS: '10', STREAM_IDLE_TIMEOUT: '0' });
  const model = 'sim/echo;tokens=200;interval=20';
  let text = await streamText(s, model);
  let err = await errorOf(text);
  t.equal(err?.code, 'stream_timeout');
  t.match(err?.message, /1000 ms/, 'the normal limit');
  t.notMatch(text, /\[DONE\]/);
  // 8 held + the new one = 9 of 10 in flight: connection use 90 % > 80 %
  const held: AbortController[] = [];
  for (let i = 0; i < 8; i++) {
    const ac = new AbortController();
    const r = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('sim/stall;after=1', { stream: true })) });
    await r.body?.getReader().read();
    held.push(ac);
  }
  text = await streamText(s, model);
  err = await errorOf(text);
  t.equal(err?.code, 'stream_timeout');
  t.match(err?.message, /800 ms/, 'the guide’s rule: STREAM_TIMEOUT × 0.8 above 80 % connection use');
  held.forEach((h) => h.abort());
  await idle(s.service);
});

t.test('heartbeats keep an idle stream alive but never reset STREAM_IDLE_TIMEOUT', async (t) => {
  const s = await startStack(t, { CONNECTION_CHECK_INTERVAL: '1', STREAM_IDLE_TIMEOUT: '2500' });
  const model = 'sim/stall;after=2';
  const aborted = nextEvent<SimAbortEvent>(s.sim, 'abort', (ev) => ev.model === model);
  const text = await streamText(s, model);
  const beats = text.split('\n\n').filter((e) => e === ': keep-alive').length;
  t.ok(beats >= 2, `${beats} keep-alive comments while the upstream was silent`);
  t.equal((await errorOf(text))?.code, 'upstream_idle_timeout', 'and the idle timeout still fired');
  const ev = await within(aborted, 2000, 'the stalled upstream request being aborted');
  t.equal(ev.eventsSent, 2, 'the upstream request that stalled after 2 events was aborted');
});

t.test('DISABLE_CONNECTION_CHECK=true sends no heartbeats', async (t) => {
  const s = await startStack(t, { CONNECTION_CHECK_INTERVAL: '1', DISABLE_CONNECTION_CHECK: 'true', STREAM_IDLE_TIMEOUT: '1500' });
  const text = await streamText(s, 'sim/stall;after=2');
  t.notMatch(text, /keep-alive/);
  t.equal((await errorOf(text))?.code, 'upstream_idle_timeout');
});

t.test('MAX_CONNECTION_TIME is a hard cap on the main thread', async (t) => {
  const s = await startStack(t, { MAX_CONNECTION_TIME: '700', STREAM_IDLE_TIMEOUT: '0' });
  const model = 'sim/echo;tokens=200;interval=20';
  const aborted = nextEvent<SimAbortEvent>(s.sim, 'abort', (ev) => ev.model === model);
  const text = await streamText(s, model);
  t.equal((await errorOf(text))?.code, 'max_connection_time');
  const ev = await within(aborted, 2000, 'the capped stream’s upstream request being aborted');
  t.ok(ev.eventsSent < 200, `its upstream request was cut after ${ev.eventsSent} of 200 events`);
});

t.test('CLIENT_STALL_TIMEOUT closes a client that stopped reading and aborts its upstream', async (t) => {
  const s = await startStack(t, { CLIENT_STALL_TIMEOUT: '500', STREAM_BUFFER_SIZE: '16384' });
  const sock = await openSocket(s.service.port);
  const model = 'sim/long;tokens=20000;size=1024';
  const aborted = nextEvent<SimAbortEvent>(s.sim, 'abort', (ev) => ev.model === model);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.on('error', () => undefined);
  sock.write(post('/v1/chat/completions', JSON.stringify(chat(model, { stream: true })), KEY));
  sock.once('data', () => sock.pause());
  const ev = await within(aborted, 10_000, 'the stalled client’s upstream request being aborted');
  t.ok(ev.eventsSent < 20000, `the upstream request was aborted after ${ev.eventsSent} of 20000 events`);
  sock.resume();
  await within(closed, 5000, 'the stalled client’s connection closing');
  await idle(s.service);
  t.equal(s.service.state.admission.inFlight, 0);
  const line = s.logs.find((l) => l.code === 'client_stall');
  t.ok(line, 'logged as client_stall');
});

t.test('memory over the limit sheds new requests until RSS is back under 80 % (hysteresis)', async (t) => {
  const s = await startStack(t, { POOL_SIZE: '2' });
  s.service.state.memory.stop(); // the real sampler would read this process's RSS; a monitor with a known reading decides here
  let rss = 70 * 1048576;
  const pool = s.service.state.pool;
  const monitor = new MemoryMonitor(64, 0.85, s.service.state.admission, s.service.state.log, () => pool.collectGarbage(), () => rss);
  const answers: CollectedMsg[] = [];
  const bothCollected = new Promise<void>((resolve) => pool.collected.on((m) => answers.push(m) === 2 && resolve()));
  monitor.sample();
  await within(bothCollected, 5000, 'both worker threads collecting garbage');
  t.ok(answers.every((a) => a.collected), 'each worker ran a full collection (started with --expose-gc)');
  const shed = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('sim/echo')) });
  t.equal(shed.status, 503);
  t.equal(((await shed.json()) as { error: { code: string } }).error.code, 'memory_pressure');
  t.equal((await fetch(`${s.origin}/ready`)).status, 503, '/ready reports it');
  t.equal((await fetch(`${s.origin}/health`)).status, 200, '/health does not');
  rss = 55 * 1048576; // 86 %: still shedding (hysteresis)
  monitor.sample();
  t.equal((await fetch(`${s.origin}/ready`)).status, 503, 'still not ready above 80 %');
  rss = 50 * 1048576; // 78 %
  monitor.sample();
  t.equal((await fetch(`${s.origin}/ready`)).status, 200, 'ready again under 80 %');
  t.ok(s.logs.some((l) => /memory limit reached/.test(String(l.msg))), 'logged when shedding starts');
  t.ok(s.logs.some((l) => /GC threshold/.test(String(l.msg))), 'a GC was requested and logged');
});
