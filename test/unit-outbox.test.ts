// The batching of messages between threads (workers/protocol.ts Outbox): one batch per event-loop turn, sent early
// at the end of the callback that made it BATCH_LIMIT long (issue 13: under load a turn reads tens of thousands of
// upstream events, and each of them waited for the turn's end), or at once when a stream needs credit (soon()).
import t from 'tap';
import { BATCH_LIMIT, Outbox } from '../workers/protocol.js';

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
