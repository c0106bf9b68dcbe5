// Issue 12 §3 and §5 (shed while uploading): a queued client that leaves gives its place up at once and is counted
// once; a shed request with a body is answered and its connection closed without reading the upload.
import t, { type Test } from 'tap';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, chat, within, KEY, idle, type Stack } from './helpers/harness.js';
import { openSocket, parseResponse, post, type RawResponse } from './helpers/raw.js';
import { nextFinished, queuedTimes, scrape, status } from './helpers/observe.js';
import { call } from './helpers/sdk.js';

/** Opens a stream that holds its slot (the simulator stalls after one event) until the returned function is called. */
async function hold(s: Stack): Promise<() => void> {
  const ac = new AbortController();
  const res = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat('sim/stall;after=1', { stream: true })),
  });
  if (res.status !== 200 || !res.body) throw new Error(`hold got ${res.status}`);
  await res.body.getReader().read();
  return () => ac.abort();
}

/** Two clients wait in the queue behind the held slot, then disconnect; resolves once both are recorded as client aborts. */
async function queueAndLeave(t: Test, s: Stack, tag: string): Promise<void> {
  const bothQueued = queuedTimes(s.service, 2);
  const leavers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const sock = await openSocket(s.service.port);
    sock.on('error', () => undefined);
    sock.write(post('/v1/chat/completions', JSON.stringify(chat(`sim/echo;seed=${i}`)), KEY));
    leavers.push(sock);
  }
  await within(bothQueued, 5000, `${tag}: two requests waiting in the queue`);
  t.equal((await status(s)).queue_length, 2, `${tag}: /status: two waiting`);
  let aborted = 0;
  const bothGone = new Promise<void>((resolve) => {
    const count = (): void => void nextFinished(s.service, (f) => f.outcome === 'client_abort').then(() => (++aborted === 2 ? resolve() : count()));
    count();
  });
  for (const sock of leavers) sock.destroy();
  await within(bothGone, 5000, `${tag}: both queued clients recorded as client aborts`);
  t.equal((await status(s)).queue_length, 0, `${tag}: /status: queue_length back to 0 the moment they left`);
}

t.test('queued clients that disconnect free their places at once; a live request behind them is queued and served; shed counted once', async (t) => {
  const QUEUE_TIMEOUT = 1500;
  const s = await startStack(t, { MAX_CONCURRENT_CONNECTIONS: '1', SHED_THRESHOLD: '1', CONNECTION_QUEUE_SIZE: '2', QUEUE_TIMEOUT: String(QUEUE_TIMEOUT) });
  let release = await hold(s);
  await queueAndLeave(t, s, 'first pair');

  // a live third request: it must wait in the queue (not 503) and be served when the slot frees
  const third = call(s.client, 'sim/echo;tokens=2');
  const thirdQueued = queuedTimes(s.service, 1);
  const first = await within(Promise.race([thirdQueued.then(() => 'queued'), third.then((r) => `answered ${r.status} ${r.code}`)]), 5000, 'the third request being queued or answered');
  t.equal(first, 'queued', 'the third request got a queue place');
  release();
  const r = await third;
  t.equal(r.status, 200, `the third request is served (${r.code ?? ''})`);
  t.equal(r.content, 'tok0 tok1 ', 'with its answer');
  await idle(s.service);

  // again, but the slot stays held past QUEUE_TIMEOUT: the places of clients that left must not time out (and be
  // counted as shed) after their client_abort
  release = await hold(s);
  await queueAndLeave(t, s, 'second pair');
  await sleep(QUEUE_TIMEOUT + 200); // the queue timeout itself is what is tested: no event marks that nothing happens
  const st = await status(s);
  const m = await scrape(s);
  t.equal(st.shed_count, 0, `/status shed_count: nobody was refused (${st.shed_count})`);
  t.equal(m.sum('deepinfra_shed_total'), st.shed_count, `deepinfra_shed_total (${m.sum('deepinfra_shed_total')}) equals /status shed_count (${st.shed_count})`);
  t.equal(st.client_aborts, 5, '/status: client aborts are the four leavers and the first holder (released by leaving)');
  t.equal(st.queue_length, 0, '/status: queue empty');
  const lines = s.logs.filter((l) => l.route === '/v1/chat/completions');
  t.equal(lines.filter((l) => l.outcome === 'client_abort').length, 5, 'one client_abort log line per client that left');
  t.equal(lines.filter((l) => l.code === 'queue_timeout').length, 0, 'no queue_timeout after they left');
  t.equal(st.total_requests, 6, '/status total_requests: the first holder, four leavers, the third: each once');
  release();
  await idle(s.service);
});

interface Shed {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly status: number;
  readonly code: string;
}

const sheds: Shed[] = [
  { name: 'instance at capacity', env: { MAX_CONCURRENT_CONNECTIONS: '1', SHED_THRESHOLD: '1' }, status: 503, code: 'overloaded' },
  { name: 'key at its cap', env: { MAX_CONNECTIONS_PER_KEY: '1' }, status: 429, code: 'key_limit' },
];

for (const shed of sheds) {
  t.test(`shed while uploading (${shed.name}): ${shed.status} before the body, and the connection closes without reading it`, async (t) => {
    const s = await startStack(t, shed.env);
    const release = await hold(s);
    const upstreamBefore = s.sim.stats.requests;
    for (const framing of ['content-length', 'chunked'] as const) {
      const sock = await openSocket(s.service.port);
      sock.on('error', () => undefined);
      const parts: Buffer[] = [];
      const answered = new Promise<RawResponse>((resolve) => {
        sock.on('data', (c: Buffer) => {
          parts.push(c);
          const res = parseResponse(Buffer.concat(parts).toString('utf8'));
          if (res.body.length > 0 && res.body.length >= Number(res.headers['content-length'] ?? 0)) resolve(res);
        });
      });
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      const length = framing === 'content-length' ? 'Content-Length: 5000000\r\n' : 'Transfer-Encoding: chunked\r\n';
      // only the head: a client that would upload 5 MB after it (keep-alive, as SDKs do)
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n${length}\r\n`);
      const res = await within(answered, 5000, `${framing}: the answer to a request whose body was not sent`);
      t.equal(res.status, shed.status, `${framing}: ${shed.status} before any body byte`);
      t.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, shed.code, `${framing}: code ${shed.code}`);
      t.ok(res.headers['retry-after'], `${framing}: with Retry-After`);
      t.equal(res.headers['connection'], 'close', `${framing}: the answer says Connection: close`);
      await within(closed, 5000, `${framing}: the server closing the connection without reading the body`);
    }
    t.equal(s.sim.stats.requests, upstreamBefore, 'the upstream never saw them');
    release();
  });
}
