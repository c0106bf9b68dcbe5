// The batching of messages between threads (workers/protocol.ts Outbox): one batch per event-loop turn, sent early
// at the end of the callback that made it BATCH_LIMIT long (issue 13: under load a turn reads tens of thousands of
// upstream events, and each of them waited for the turn's end), or at once when a stream needs credit (soon());
// and a stream's consecutive bytes joined into one message (DATA_RUNS).
import t from 'tap';
import { BATCH_LIMIT, DATA_RUNS, Outbox, type FromWorker, type Joiner } from '../workers/protocol.js';

/** Resolves after the microtasks queued so far (the end of the current callback). */
const endOfCallback = (): Promise<void> => new Promise((r) => queueMicrotask(r));
/** Resolves after this turn's check phase (the end of the turn). */
const endOfTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('messages of one turn go out together at its end', async (t) => {
  const posted: number[][] = [];
  const o = new Outbox<number>((b) => posted.push(b), 4);
  o.push(1);
  o.push(2);
  await endOfCallback();
  t.same(posted, [], 'nothing before the end of the turn');
  await endOfTurn();
  t.same(posted, [[1, 2]]);
});

t.test('a batch that reaches the limit goes out at the end of the callback; the rest at the end of the turn', async (t) => {
  const posted: number[][] = [];
  const o = new Outbox<number>((b) => posted.push(b), 4);
  for (let i = 0; i < 4; i++) o.push(i);
  await endOfCallback();
  t.same(posted, [[0, 1, 2, 3]], 'sent before the turn ended');
  o.push(4);
  await endOfCallback();
  t.same(posted, [[0, 1, 2, 3]], 'a short batch waits');
  await endOfTurn();
  t.same(posted, [[0, 1, 2, 3], [4]]);
  await endOfTurn();
  t.equal(posted.length, 2, 'no empty batch is posted');
});

t.test('soon() sends at the end of the callback whatever the length', async (t) => {
  const posted: number[][] = [];
  const o = new Outbox<number>((b) => posted.push(b), 4);
  o.push(7);
  o.soon();
  await endOfCallback();
  t.same(posted, [[7]]);
});

t.test('the worker side sends early at BATCH_LIMIT messages', async (t) => {
  t.ok(BATCH_LIMIT > 1 && BATCH_LIMIT <= 1024, `BATCH_LIMIT ${BATCH_LIMIT}: less than one poll of 1024 sockets`);
});

/** Joins adjacent strings that start with the same letter (a stand-in for one stream's data messages). */
const sameLetter: Joiner<string> = { joins: (a, b) => a[0] === b[0], join: (run) => run.join('+') };

t.test('with a joiner, a message that joins the one before it is merged into it, in order', async (t) => {
  const posted: string[][] = [];
  const o = new Outbox<string>((b) => posted.push(b), Infinity, sameLetter);
  for (const m of ['a1', 'a2', 'a3', 'b1', 'a4', 'b2', 'b3']) o.push(m);
  await endOfTurn();
  t.same(posted, [['a1+a2+a3', 'b1', 'a4', 'b2+b3']], 'only neighbours join: a4 is not moved before b1');
  o.push('c1');
  await endOfTurn();
  t.same(posted[1], ['c1'], 'a lone message goes as it is');
});

t.test('joined messages count toward the limit as they did apart; a run open when the batch goes out is joined first', async (t) => {
  const posted: string[][] = [];
  const o = new Outbox<string>((b) => posted.push(b), 4, sameLetter);
  for (const m of ['a1', 'a2', 'a3']) o.push(m);
  await endOfCallback();
  t.same(posted, [], 'three pushed: not yet');
  o.push('a4');
  await endOfCallback();
  t.same(posted, [['a1+a2+a3+a4']], 'the fourth push sends it early, though joined it is one message');
  o.push('b1');
  await endOfCallback();
  t.same(posted.length, 1, 'the count starts again after a batch went out');
  o.push('b2');
  o.soon();
  await endOfCallback();
  t.same(posted[1], ['b1+b2'], 'soon() closes the open run');
});

t.test('DATA_RUNS joins one stream\'s bytes only, without copying them, and the run ends as its last piece does', async (t) => {
  const data = (id: number, s: string, cut = false): FromWorker => (cut ? { t: 'data', id, chunk: Buffer.from(s), cut: true } : { t: 'data', id, chunk: Buffer.from(s) });
  const head: FromWorker = { t: 'head', id: 1, meta: { mirror: 0, attempts: 1, stream: true, model: 'm' } };
  const end: FromWorker = { t: 'end', id: 1, done: true, stats: { events: 0, malformed: 0, usage: null } };
  t.ok(DATA_RUNS.joins(data(1, 'x'), data(1, 'y')));
  t.notOk(DATA_RUNS.joins(data(1, 'x'), data(2, 'y')), 'another stream');
  t.notOk(DATA_RUNS.joins(head, data(1, 'y')), 'after a head');
  t.notOk(DATA_RUNS.joins(data(1, 'x'), end), 'an end is not data');
  const text = (m: FromWorker): string => (m.t === 'data' ? [m.chunk, ...(m.more ?? [])].map((b) => Buffer.from(b).toString()).join('') : '');
  const pieces = [data(1, 'ab'), data(1, 'cd', true), data(1, 'ef')];
  const whole = DATA_RUNS.join(pieces);
  t.same([whole.t, text(whole), 'cut' in whole], ['data', 'abcdef', false], 'ends whole: not cut');
  t.equal(whole.t === 'data' && whole.chunk, (pieces[0] as { chunk: Uint8Array }).chunk, 'the first piece itself, not a copy');
  const cut = DATA_RUNS.join([data(1, 'ab'), data(1, 'cd', true)]);
  t.same([text(cut), cut.t === 'data' && cut.cut === true], ['abcd', true], 'ends inside an event: cut');
  t.notOk(DATA_RUNS.joins(whole, data(1, 'gh')), 'a run joins nothing more (its pieces are never dropped)');
  t.notOk(DATA_RUNS.joins(data(1, 'gh'), whole), 'nor joins another run');
});
