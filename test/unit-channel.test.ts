// Channel (unit, fake port): per-turn batching, routing of worker messages by stream id, lost workers.
import t from 'tap';
import { Channel, type StreamEvents } from '../src/pool/channel.js';
import { leastLoaded } from '../src/pool/pool.js';
import type { FromWorker, OpenMsg, Port, ToWorker } from '../workers/protocol.js';
import { pack, unpack } from '../workers/wire.js';
import { packToWorker, unpackToWorker } from '../workers/wire-open.js';
import { MessageChannel } from 'node:worker_threads';

function fakePort() {
  const posted: ToWorker[][] = [];
  let deliver: (b: FromWorker[]) => void = () => undefined;
  const port: Port<FromWorker, ToWorker> = { postMessage: (b) => posted.push(b), onBatch: (h) => (deliver = h), close: () => undefined };
  return { port, posted, deliver: (b: FromWorker[]) => deliver(b) };
}

function events() {
  const heard: string[] = [];
  const e: StreamEvents = {
    onReply: (m) => heard.push(`reply ${m.status}`), onFail: (m) => heard.push(`fail ${m.code}`), onHead: () => heard.push('head'),
    onData: (m) => heard.push(`data ${Buffer.from(m.chunk).toString()}`), onEnd: (m) => heard.push(`end ${m.done}`), onLost: () => heard.push('lost'),
    onLast: (d, m) => heard.push(`last ${Buffer.from(d.chunk).toString()} end ${m.done}`),
  };
  return { e, heard };
}

const open = (id: number): OpenMsg => ({ t: 'open', id, kind: 'chat', body: new Uint8Array(0), reqId: 'r', traceparent: null, credit: 10, limits: { firstByteMs: 0, idleMs: 0, totalMs: 0 } });
const meta = { mirror: 0, attempts: 1, model: 'm', stream: true };
const stats = { events: 1, malformed: 0, usage: null };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Posts a packed batch through a real MessageChannel (structured clone and transfers) and unpacks it on the far side. */
async function across<P, T>(packed: P, transfer: ArrayBuffer[], open: (posted: P) => T[]): Promise<T[]> {
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<T[]>((resolve) => port2.once('message', (m: P) => resolve(open(m))));
  port1.postMessage(packed, transfer);
  const out = await got;
  port1.close();
  return out;
}

t.test('opens and aborts of one turn go out as one message; credit goes at the end of the callback', async (t) => {
  const f = fakePort();
  const ch = new Channel(f.port, 0);
  ch.open(open(1), events().e);
  ch.open(open(2), events().e);
  ch.abort(2);
  t.equal(f.posted.length, 0, 'nothing posted within the callback');
  await turn();
  t.same(f.posted.map((b) => b.map((m) => (m.t === 'gc' ? 'gc' : `${m.t}${m.id}`))), [['open1', 'open2', 'abort2']]);
  ch.credit(1, 5);
  await Promise.resolve();
  t.same(f.posted.at(-1), [{ t: 'credit', id: 1, n: 5 }], 'credit is flushed at the end of the current callback');
  ch.credit(2, 5);
  await turn();
  t.equal(f.posted.length, 2, 'no credit for an aborted stream');
});

t.test('worker messages reach their stream; a stream ends with its reply, fail or end', async (t) => {
  const f = fakePort();
  const ch = new Channel(f.port, 0);
  const a = events();
  const b = events();
  ch.open(open(1), a.e);
  ch.open(open(2), b.e);
  f.deliver([{ t: 'head', id: 1, meta }, { t: 'data', id: 1, chunk: Buffer.from('x') }, { t: 'fail', id: 2, code: 'upstream_timeout', message: '', param: null, meta }]);
  f.deliver([{ t: 'end', id: 1, done: true, stats }, { t: 'data', id: 1, chunk: Buffer.from('late') }]);
  t.same(a.heard, ['head', 'data x', 'end true'], 'nothing after the end');
  t.same(b.heard, ['fail upstream_timeout']);
  t.equal(ch.load, 0);
});

t.test('a stream\'s last bytes followed by its end in one batch arrive together (one write for a short stream)', async (t) => {
  const f = fakePort();
  const ch = new Channel(f.port, 0);
  const a = events();
  const b = events();
  const c = events();
  ch.open(open(1), a.e);
  ch.open(open(2), b.e);
  ch.open(open(3), c.e);
  f.deliver([
    { t: 'head', id: 1, meta }, { t: 'data', id: 1, chunk: Buffer.from('x') }, { t: 'end', id: 1, done: true, stats },
    { t: 'data', id: 2, chunk: Buffer.from('y') }, { t: 'data', id: 3, chunk: Buffer.from('z') }, { t: 'end', id: 2, done: true, stats },
    { t: 'end', id: 3, done: false, stats, code: 'upstream_truncated', message: '' },
  ]);
  t.same(a.heard, ['head', 'last x end true'], 'data then its end: together');
  t.same(b.heard, ['data y', 'end true'], "another stream's message between them: apart");
  t.same(c.heard, ['data z', 'end false'], 'an end with an error: apart (it may close the connection)');
  t.equal(ch.load, 0, 'all three streams are over');
  f.deliver([{ t: 'data', id: 1, chunk: Buffer.from('late') }]);
  t.same(a.heard, ['head', 'last x end true'], 'nothing after the end');
});

t.test('ready resolves on the worker’s announcement; a lost worker loses each stream once', async (t) => {
  const f = fakePort();
  const ch = new Channel(f.port, 3);
  f.deliver([{ t: 'ready', threadId: 42 }]);
  await ch.ready;
  t.equal(ch.threadId, 42);
  const a = events();
  ch.open(open(1), a.e);
  ch.lost();
  ch.lost();
  t.same(a.heard, ['lost']);
  t.notOk(ch.alive);
});

t.test('routing: the least loaded worker that is serving; one still starting (or dead) gets no stream', async (t) => {
  const ready = (n: number): Channel => {
    const f = fakePort();
    const ch = new Channel(f.port, n);
    f.deliver([{ t: 'ready', threadId: 10 + n }]);
    return ch;
  };
  const a = ready(0);
  const b = ready(1);
  const starting = new Channel(fakePort().port, 2); // a replacement that has not announced itself
  a.open(open(1), events().e);
  t.equal(leastLoaded([a, starting]), a, 'the starting worker has no load, yet is not chosen');
  t.equal(leastLoaded([a, b, starting]), b, 'among serving workers, the least loaded');
  b.lost();
  t.equal(leastLoaded([b, starting]), null, 'none serving: no channel (the request gets worker_crashed with Retry-After)');
});

t.test('the pooled wire: a batch keeps its order; data travels as views of one transferred buffer', async (t) => {
  const batch: FromWorker[] = [
    { t: 'head', id: 1, meta },
    { t: 'data', id: 1, chunk: Buffer.from('abc') },
    { t: 'data', id: 2, chunk: Buffer.from('defg'), cut: true },
    { t: 'end', id: 1, done: true, stats },
    { t: 'data', id: 2, chunk: Buffer.from('h') },
  ];
  const { packed, transfer } = pack(batch);
  t.equal(transfer.length, 2, 'the bytes and their index go as transfers, not copies');
  const out = await across(packed, transfer, unpack);
  t.same(out.map((m) => m.t), ['head', 'data', 'data', 'end', 'data'], 'order kept');
  const data = out.filter((m): m is Extract<FromWorker, { t: 'data' }> => m.t === 'data');
  t.same(data.map((m) => [m.id, Buffer.from(m.chunk).toString(), m.cut === true]), [[1, 'abc', false], [2, 'defg', true], [2, 'h', false]]);
  t.ok(data.every((m) => m.chunk.buffer === data[0]!.chunk.buffer), 'every chunk a view of the one buffer');
  t.equal(unpack(pack([{ t: 'ready', threadId: 1 }]).packed).length, 1, 'a batch without data goes as it is');
});

t.test('the pooled wire: a joined run of one stream\'s bytes (DATA_RUNS) arrives as one chunk, its pieces side by side', async (t) => {
  const batch: FromWorker[] = [
    { t: 'data', id: 1, chunk: Buffer.from('ab'), more: [Buffer.from('cd'), Buffer.from('ef')], cut: true },
    { t: 'data', id: 2, chunk: Buffer.from('x') },
  ];
  const { packed, transfer } = pack(batch);
  const out = await across(packed, transfer, unpack);
  t.same(out.map((m) => (m.t === 'data' ? [m.id, Buffer.from(m.chunk).toString(), m.cut === true, m.more === undefined] : m.t)), [[1, 'abcdef', true, true], [2, 'x', false, true]]);
});

t.test('the pooled wire: a chat head, a clean end and a plain reply travel as numbers and arrive equal; the rest as objects', async (t) => {
  const plain: FromWorker[] = [
    { t: 'head', id: 7, meta: { mirror: 1, attempts: 2, model: 'meta-llama/Llama-3.3-70B-Instruct', stream: true } },
    { t: 'end', id: 7, done: true, stats: { events: 22, malformed: 1, usage: { promptTokens: 12, completionTokens: 21 } } },
    { t: 'end', id: 8, done: false, stats: { events: 0, malformed: 0, usage: null } },
    { t: 'head', id: 9, meta: { mirror: -1, attempts: 0, model: '', stream: false } },
    { t: 'reply', id: 20, status: 429, headers: { 'content-type': 'application/json', 'retry-after': '2' }, body: new Uint8Array(Buffer.from('{"error":{}}')), meta, usage: null },
    { t: 'reply', id: 21, status: 200, headers: { 'content-type': 'application/json' }, body: new Uint8Array(0), meta, usage: { promptTokens: 3, completionTokens: 4 } },
  ];
  const other: FromWorker[] = [
    { t: 'head', id: 10, meta, framing: 'responses' },
    { t: 'head', id: 11, meta: { ...meta, upstreamModel: 'x/y' } },
    { t: 'end', id: 12, done: false, code: 'upstream_truncated', message: 'cut', stats },
    { t: 'end', id: 13, done: true, stats: { events: 1, malformed: 0, usage: { promptTokens: 1.5, completionTokens: 2 } } },
    { t: 'end', id: 14, done: true, stats: { events: 2 ** 31, malformed: 0, usage: null } },
    { t: 'end', id: 15, done: true, stats: { ...stats, content: 'logged text' } },
    { t: 'reply', id: 22, status: 200, headers: { 'content-type': 'text/plain' }, body: 'made by the worker', meta, usage: null },
    { t: 'reply', id: 23, status: 200, headers: { 'content-type': 'application/json' }, body: new Uint8Array(1), meta, usage: null, content: 'logged' },
  ];
  const batch = [plain[0]!, other[0]!, plain[1]!, other[1]!, other[2]!, plain[4]!, plain[2]!, other[3]!, other[6]!, other[4]!, plain[3]!, other[5]!, plain[5]!, other[7]!];
  const { packed, transfer } = pack(batch);
  t.notOk(Array.isArray(packed), 'packed, though it carries no data');
  if (Array.isArray(packed)) return;
  t.equal(packed.c.length, other.length, 'only the others are cloned as objects');
  const out = await across(packed, transfer, unpack);
  t.strictSame(out, batch, 'every message arrives as it was sent, in order');
});

t.test('the pooled wire toward a worker: opens, credit and aborts as numbers, bodies in one buffer; the rest as objects', async (t) => {
  const limits = { firstByteMs: 30_000, idleMs: 60_000, totalMs: 600_000 };
  const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));
  const batch: ToWorker[] = [
    { t: 'open', id: 1, kind: 'chat', body: bytes('{"model":"m","stream":true}'), reqId: 'r-1', traceparent: null, credit: 16384, limits },
    { t: 'credit', id: 1, n: 8192 },
    { t: 'open', id: 2, kind: 'transcriptions', body: bytes('--b\r\n…'), contentType: 'multipart/form-data; boundary=b', reqId: 'r-2', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', credit: 4096, limits },
    { t: 'gc' },
    { t: 'abort', id: 1 },
    { t: 'open', id: 3, kind: 'models', body: new Uint8Array(0), reqId: 'r-3', traceparent: null, credit: 16384, limits: { ...limits, totalMs: 2 ** 40 } },
  ];
  const { packed, transfer } = packToWorker(batch);
  t.notOk(Array.isArray(packed), 'packed');
  if (Array.isArray(packed)) return;
  t.same(packed.c.map((m) => m.t), ['gc', 'open'], 'cloned as objects: gc, and the open whose limit does not fit 32 bits');
  const out = await across(packed, transfer, unpackToWorker);
  t.strictSame(out, batch, 'every message arrives as it was sent, in order');
  const [a, , b] = out;
  if (a?.t === 'open' && b?.t === 'open') t.equal(a.body.buffer, b.body.buffer, 'the bodies are views of the one buffer');
  t.same(packToWorker([{ t: 'gc' }]).packed, [{ t: 'gc' }], 'a batch of none of these goes as it is');
});

t.test('the pooled wire: a reply whose body is a view of a shared buffer carries only its own bytes', async (t) => {
  const shared = Buffer.from('other request bytes|{"id":"c"}|more of another');
  const body = shared.subarray(20, 30);
  const cross = (batch: FromWorker[]): Promise<FromWorker[]> => {
    const { packed, transfer } = pack(batch);
    return across(packed, transfer, unpack);
  };
  const reply: FromWorker = { t: 'reply', id: 1, status: 200, headers: { 'content-type': 'application/json' }, body, meta, usage: null };
  // as numbers, the body is copied into the batch's buffer (beside the batch's other bytes only); as an object
  // (a logged completion keeps it one), it is cloned alone
  const logged: FromWorker = { ...reply, content: 'the completion' };
  for (const [name, batch, size] of [['alone', [reply], 10], ['beside data', [{ t: 'data', id: 2, chunk: Buffer.from('x') }, reply], 11], ['as an object', [logged], 10]] as const) {
    const got = (await cross([...batch])).find((m) => m.t === 'reply');
    const b = got?.t === 'reply' ? got.body : '';
    t.ok(b instanceof Uint8Array, `${name}: bytes`);
    if (typeof b === 'string') continue;
    t.equal(Buffer.from(b).toString(), '{"id":"c"}', `${name}: the body`);
    t.equal(b.buffer.byteLength, size, `${name}: nothing of the shared buffer around it`);
  }
  t.equal(body.buffer, shared.buffer, 'the worker\'s own view is left as it was');
});
