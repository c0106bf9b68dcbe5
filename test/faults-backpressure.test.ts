// Issue 12 §2 (the end of a burst never waits in uWS's buffer) and §5 (gzip: pausing stops decompressed output),
// end to end through the service with raw-socket clients that stop reading and resume; and the credit loop that
// must keep a reading client's stream moving with no heartbeat to nudge it (DISABLE_CONNECTION_CHECK=true).
import t, { type Test } from 'tap';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { startStack, chat, within, KEY, type Stack } from './helpers/harness.js';
import { openSocket, post } from './helpers/raw.js';
import { SSE_HEADERS, chatChunk, sseEvent, startScriptedUpstream, type Piece, type ScriptedUpstream, type WriteEvent } from './helpers/scripted-upstream.js';
import { call } from './helpers/sdk.js';

const BUFFER = 16 * 1024;
/** What uWS may hold beyond the writer's own count (its cork buffer) … */
const UWS_BUFFER = 16 * 1024;
/** … and one upstream read that can arrive on top of the budget before the worker pauses (as in backpressure.test.ts). */
const ONE_READ = 64 * 1024;
const ENV = { POOL_SIZE: '1', STREAM_BUFFER_SIZE: String(BUFFER), DISABLE_CONNECTION_CHECK: 'true', STREAM_IDLE_TIMEOUT: '0', CLIENT_STALL_TIMEOUT: '60000' };

/**
 * The credit loop regression (issue-12 test report): on 3e46055 the writer held the latest write's credit as
 * unconfirmed while the worker waited for half its budget, and streams stopped until a heartbeat. These tests
 * showed it end to end; they pass since the writer proves a starving worker's last write with a probe.
 */

/** Max of `pending` over the service's in-flight requests, sampled until stop() (a measurement, not a wait). */
function pendingPeak(t: Test, s: Stack): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    for (const ex of s.service.state.active) peak = Math.max(peak, ex.pending);
  }, 2);
  t.teardown(() => clearInterval(timer));
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** A raw client of one stream: reads the first bytes (`started`), then stops reading until `sock.resume()`. */
async function pausedClient(s: Stack, model: string): Promise<{ sock: Socket; started: Promise<void>; text(): string; until(marker: string): Promise<void> }> {
  const sock = await openSocket(s.service.port);
  sock.on('error', () => undefined);
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  let tail = '';
  const waiters: Array<{ marker: string; resolve: () => void }> = [];
  sock.on('data', (c: Buffer) => {
    parts.push(c);
    const text = tail + c.toString('latin1'); // markers are short: the end of the previous read is enough context
    tail = text.slice(-256);
    for (const w of [...waiters]) {
      if (!text.includes(w.marker)) continue;
      seen.add(w.marker);
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const started = new Promise<void>((resolve) =>
    sock.once('data', () => {
      sock.pause();
      resolve();
    }),
  );
  sock.write(post('/v1/chat/completions', JSON.stringify(chat(model, { stream: true })), KEY));
  return {
    sock,
    started,
    text: () => Buffer.concat(parts).toString('utf8'),
    until: (marker) =>
      seen.has(marker) || Buffer.concat(parts).includes(marker) ? Promise.resolve() : new Promise((resolve) => waiters.push({ marker, resolve })),
  };
}

/**
 * Resolves with the bytes written when a write of `up` blocked and no 'drain' followed for `quietMs`: the reader
 * (the proxy) stopped taking its bytes. (Loopback buffers absorb several MB first; each drain restarts the wait.)
 */
function blockedForGood(up: ScriptedUpstream, quietMs: number): Promise<number> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onBlocked = (e: WriteEvent): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        up.off('write-blocked', onBlocked);
        up.off('drain', onDrain);
        resolve(e.written);
      }, quietMs);
    };
    const onDrain = (): void => clearTimeout(timer);
    // every byte taken: the sockets between held the whole body (the check below then fails with the figure)
    up.once('finish', (e: WriteEvent) => {
      clearTimeout(timer);
      resolve(e.written);
    });
    up.on('write-blocked', onBlocked);
    up.on('drain', onDrain);
  });
}

/** Resolves true when `p` settles within `ms`, false (with a comment) when it does not. */
function arrives(t: Test, p: Promise<unknown>, ms: number, what: string): Promise<boolean> {
  return within(p, ms, what).then(
    () => true,
    (e: unknown) => {
      t.comment(String(e));
      return false;
    },
  );
}

t.test('a client that stops reading, then resumes: the last event of a burst arrives with no further upstream byte; pending stays bounded', async (t) => {
  const N = 300;
  const pad = 'x'.repeat(8000); // 8 KiB events: each under uWS's 16 KiB cork buffer
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const up = await startScriptedUpstream(t, (req) => {
    const body: Piece[] = [];
    for (let i = 0; i < N; i++) body.push(sseEvent(chatChunk(req.model ?? '', `${i}:${pad}`)));
    body.push({ until: gate }, sseEvent('[DONE]'));
    return { status: 200, headers: SSE_HEADERS, body };
  });
  const s = await startStack(t, ENV, { mirrors: up.url });
  const peak = pendingPeak(t, s);
  const atGate = new Promise<void>((r) => up.once('waiting', () => r()));
  const c = await pausedClient(s, 'acme/burst');
  // the whole burst fits in the sockets' buffers: the upstream writes all of it, then waits (sends nothing more)
  await within(c.started, 10_000, 'the first bytes of the stream reaching the client');
  await within(atGate, 10_000, 'the upstream writing the whole burst while the client does not read');
  c.sock.resume();
  const last = await arrives(t, c.until(`"content":"${N - 1}:`), 5000, `the last of ${N} events reaching the client`);
  t.ok(last, `every event of the burst arrived once the client read again, with no further upstream byte`);
  const max = peak.stop();
  t.ok(max <= BUFFER + UWS_BUFFER + ONE_READ, `pending peaked at ${max} bytes ≤ STREAM_BUFFER_SIZE + 16 KiB + one upstream read`);
  release();
  if (last) {
    await within(c.until('[DONE]'), 5000, '[DONE] after the upstream finished');
    t.pass('[DONE] once the upstream finished');
  }
  c.sock.destroy();
});

t.test('a reading client gets every event of a fast burst with no heartbeat to nudge the stream (simulator and scripted upstream)', async (t) => {
  // the simulator: 20 events of ~4 KiB as fast as the proxy takes them
  const s = await startStack(t, ENV);
  const sim = call(s.client, 'sim/echo;tokens=20;size=4000', { stream: true });
  const simOk = await arrives(t, sim, 5000, 'the simulator’s 20 × 4 KiB stream completing');
  t.ok(simOk, 'simulator: the stream completed');
  if (simOk) t.equal((await sim).status, 200, 'simulator: 200');

  // the scripted upstream: 300 events of 8 KiB in one burst, CRLF-framed, `data:` without a space, then [DONE]
  const pad = 'y'.repeat(8000);
  const up = await startScriptedUpstream(t, (req) => ({
    status: 200,
    headers: SSE_HEADERS,
    body: [...Array.from({ length: 300 }, (_, i) => sseEvent(chatChunk(req.model ?? '', `${i}:${pad}`, i === 299 ? 'stop' : null))), sseEvent('[DONE]')],
  }));
  const s2 = await startStack(t, ENV, { mirrors: up.url });
  const burst = call(s2.client, 'acme/burst', { stream: true });
  const burstOk = await arrives(t, burst, 5000, 'the scripted 300 × 8 KiB burst completing');
  t.ok(burstOk, 'scripted: the stream completed');
  if (burstOk) t.equal((await burst).content, Array.from({ length: 300 }, (_, i) => `${i}:${pad}`).join(''), 'scripted: every delta arrived, in order');
});

t.test('gzip upstream: a client that stops reading stops decompressed output too; pending stays bounded, the upstream blocks', async (t) => {
  // 16 MB of highly compressible events (~1000:1: one compressed read would inflate to megabytes), then ~26 MB of
  // incompressible ones, so that the compressed body (~20 MB) is more than the loopback sockets between the upstream
  // and the paused proxy hold (measured: 4 to 10 MB)
  const model = 'acme/gzip';
  const events: string[] = [];
  const compressible = 'a'.repeat(16 * 1024);
  for (let i = 0; i < 1000; i++) events.push(sseEvent(chatChunk(model, compressible)));
  for (let i = 0; i < 3200; i++) events.push(sseEvent(chatChunk(model, randomBytes(6 * 1024).toString('base64'))));
  events.push(sseEvent(chatChunk(model, 'END', 'stop')), sseEvent('[DONE]'));
  const plain = Buffer.from(events.join(''));
  const gz = gzipSync(plain);
  const pieces: Piece[] = [];
  for (let i = 0; i < gz.length; i += 16 * 1024) pieces.push(gz.subarray(i, i + 16 * 1024));
  const up = await startScriptedUpstream(t, () => ({ status: 200, headers: { ...SSE_HEADERS, 'content-encoding': 'gzip' }, body: pieces }));
  t.comment(`gzip body: ${plain.length} bytes decoded, ${gz.length} compressed`);

  const s = await startStack(t, ENV, { mirrors: up.url });
  const peak = pendingPeak(t, s);
  const stuck = blockedForGood(up, 300);
  const c = await pausedClient(s, model);
  await within(c.started, 10_000, 'the first bytes of the stream reaching the client');
  const at = await within(stuck, 10_000, 'the upstream’s writes blocking for good while the client does not read');
  t.ok(at < gz.length, `the upstream is blocked after ${at} of ${gz.length} compressed bytes: the proxy stopped reading it`);
  const [ex] = [...s.service.state.active];
  t.ok(ex, 'the stream is in flight');
  const held = ex?.pending ?? 0;
  t.ok(held <= BUFFER + ONE_READ, `the proxy holds ${held} bytes for the paused client (≤ STREAM_BUFFER_SIZE + 64 KiB)`);
  const max = peak.stop();
  t.ok(max <= BUFFER + ONE_READ, `and never held more while the client was paused (peak ${max})`);
  c.sock.resume();
  const done = await arrives(t, c.until('"content":"END"'), 5000, 'the rest of the gzip stream after the client resumed');
  t.ok(done, 'all content arrives once the client reads again');
  if (done) {
    await within(c.until('[DONE]'), 5000, '[DONE]');
    const body = c.text().replace(/\r\n[0-9a-f]+\r\n/g, '');
    t.equal(body.split(compressible).length - 1, 1000, 'every compressible event arrived');
  }
  c.sock.destroy();
});
