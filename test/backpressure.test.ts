// Backpressure end to end, client disconnects, and malformed upstream events, over raw sockets.
import t from 'tap';
import type { Socket } from 'node:net';
import { startStack, chat, nextEvent, idle, within, KEY } from './helpers/harness.js';
import { openSocket, post } from './helpers/raw.js';
import type { SimAbortEvent } from '../src/simulator/index.js';

const BUFFER = 16 * 1024;
/** One upstream read can arrive on top of the budget before the worker pauses (see README). */
const ONE_READ = 64 * 1024;

/** Collects a raw response; resolves when the first body bytes arrive. */
function collector(sock: Socket): { text: () => string; firstData: Promise<void>; closed: Promise<void> } {
  const parts: Buffer[] = [];
  let onFirst: () => void = () => undefined;
  const firstData = new Promise<void>((r) => (onFirst = r));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  let seen = false;
  sock.on('data', (c: Buffer) => {
    parts.push(c);
    if (!seen && Buffer.concat(parts).includes('data: ')) {
      seen = true;
      onFirst();
    }
  });
  return { text: () => Buffer.concat(parts).toString('utf8'), firstData, closed };
}

function contentOf(sse: string): string {
  let out = '';
  for (const m of sse.matchAll(/^data: (\{.*\})$/gm)) {
    const v = JSON.parse(m[1]!) as { choices?: Array<{ delta?: { content?: string } }> };
    out += v.choices?.[0]?.delta?.content ?? '';
  }
  return out;
}

for (const pool of ['2', '0']) {
  t.test(`a paused client stalls the upstream; memory stays bounded; nothing is lost (POOL_SIZE=${pool})`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool, STREAM_BUFFER_SIZE: String(BUFFER), CLIENT_STALL_TIMEOUT: '60000' });
    const model = 'sim/long;tokens=16384;size=1024'; // ~16 MB: 1000 × STREAM_BUFFER_SIZE, more than loopback buffers hold
    const sock = await openSocket(s.service.port);
    sock.setNoDelay(true);
    const got = collector(sock);
    const blocked = nextEvent(s.sim, 'write-blocked');
    sock.write(post('/v1/chat/completions', JSON.stringify(chat(model, { stream: true })), KEY));
    await got.firstData;
    sock.pause();
    await within(blocked, 10_000, 'the simulator’s writes blocking (backpressure reaching the upstream over TCP)');
    const [ex] = [...s.service.state.active];
    t.ok(ex, 'the stream is in flight');
    t.ok(ex!.pending <= BUFFER + ONE_READ, `proxy holds ${ex!.pending} bytes for the paused client (≤ buffer + one read)`);
    t.equal(s.sim.stats.completed, 0, 'the upstream has not finished while the client is paused');
    sock.resume();
    await got.closed;
    const body = got.text();
    t.match(body.slice(-40), /data: \[DONE\]\n\n\r\n0\r\n\r\n$/, 'ends with [DONE] and the final chunk');
    const direct = await fetch(`${s.sim.baseUrl}/chat/completions`, { method: 'POST', body: JSON.stringify(chat(model, { stream: true })) });
    const expected = contentOf(await direct.text());
    t.ok(contentOf(body.replace(/\r\n[0-9a-f]+\r\n/g, '')) === expected, `every byte of content arrived, in order (${expected.length} characters)`);
    await idle(s.service);
    t.equal(s.service.state.admission.inFlight, 0);
  });
}

t.test('client disconnect aborts the upstream at once and frees the slot', async (t) => {
  const s = await startStack(t, {});
  for (const when of ['mid-stream', 'before upstream headers']) {
    const model = when === 'mid-stream' ? 'sim/echo;tokens=1000;interval=20' : 'sim/slowheaders;delay=5000';
    const sock = await openSocket(s.service.port);
    const got = collector(sock);
    const upstreamSeen = nextEvent(s.sim, 'request');
    sock.write(post('/v1/chat/completions', JSON.stringify(chat(model, { stream: true })), KEY));
    if (when === 'mid-stream') await got.firstData;
    else await upstreamSeen;
    const aborted = nextEvent<SimAbortEvent>(s.sim, 'abort');
    const t0 = performance.now();
    sock.destroy();
    const ev = await aborted;
    const delay = ev.at - t0;
    t.ok(delay < 100, `${when}: upstream aborted ${delay.toFixed(1)} ms after the client left (contract: < 100 ms)`);
    await idle(s.service);
    t.equal(s.service.state.admission.inFlight, 0, `${when}: slot freed`);
  }
  t.equal(s.service.state.counters.clientAborts, 2, 'counted as client aborts');
  t.equal(s.service.state.counters.errorCount, 0, 'not as errors');
});

t.test('a malformed upstream event is skipped and counted; the stream goes on', async (t) => {
  const s = await startStack(t, {});
  const stream = await s.client.chat.completions.create({ model: 'sim/malformed;tokens=6;after=2', messages: [{ role: 'user', content: 'x' }], stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  t.equal(text, 'tok0 tok1 tok2 tok3 tok4 tok5 ');
  await idle(s.service);
  t.equal(s.service.state.counters.malformedEvents, 1);
});
