// Admission (unit): the capacity boundary, FIFO queue with cancel and timeout, per-key caps, drain and close.
import t from 'tap';
import { Admission, type Admit, type Waiting } from '../src/admission.js';

const opts = { max: 10, shedThreshold: 0.5, queueSize: 2, queueTimeoutMs: 60_000, perKey: 0 };
const granted = (a: Admit | Waiting): (() => void) => {
  if ('promise' in a || !a.ok) throw new Error('expected an immediate grant');
  return a.release;
};

t.test('capacity is floor(max × threshold): the next request waits, past the queue it is refused', async (t) => {
  const a = new Admission(opts);
  t.teardown(() => a.drain()); // no waiter's timer outlives the test
  t.equal(a.capacity, 5);
  const releases = Array.from({ length: 5 }, () => granted(a.acquire('k')));
  t.equal(a.inFlight, 5);
  const w1 = a.acquire('k');
  const w2 = a.acquire('k');
  t.ok('promise' in w1 && 'promise' in w2, 'the sixth and seventh wait');
  t.same(a.acquire('k'), { ok: false, reason: 'overloaded' }, 'the eighth is refused: the queue is full');
  t.equal(a.shed, 1);
  releases[0]!();
  releases[0]!();
  t.equal(a.inFlight, 5, 'a release is counted once; the slot went to the first waiter');
  const v1 = await (w1 as Waiting).promise;
  t.ok(v1.ok, 'FIFO: the first waiter got it');
  t.equal(a.queueLength, 1);
});

t.test('a waiter that leaves gives its place up at once, and is not counted as shed', async (t) => {
  const a = new Admission({ ...opts, max: 1, shedThreshold: 1, queueSize: 2 });
  const held = granted(a.acquire('k'));
  const w1 = a.acquire('k') as Waiting;
  const w2 = a.acquire('k') as Waiting;
  w1.cancel();
  w2.cancel();
  t.equal(a.queueLength, 0, 'both places freed');
  const w3 = a.acquire('k');
  t.ok('promise' in w3, 'a third client can queue again');
  t.equal(a.shed, 0, 'nothing was shed');
  held();
  t.ok((await (w3 as Waiting).promise).ok, 'and gets the slot');
});

t.test('QUEUE_TIMEOUT refuses a waiter with queue_timeout, counted once', async (t) => {
  const a = new Admission({ ...opts, max: 1, shedThreshold: 1, queueTimeoutMs: 1 });
  granted(a.acquire('k'));
  const w = a.acquire('k') as Waiting;
  t.same(await w.promise, { ok: false, reason: 'queue_timeout' });
  t.equal(a.shed, 1);
  w.cancel();
  t.equal(a.shed, 1, 'a cancel after the timeout changes nothing');
});

t.test('per-key cap: 429 for the heavy key while others get in', async (t) => {
  const a = new Admission({ ...opts, perKey: 2 });
  granted(a.acquire('heavy'));
  const r = granted(a.acquire('heavy'));
  t.same(a.acquire('heavy'), { ok: false, reason: 'key_limit' });
  granted(a.acquire('light'));
  r();
  granted(a.acquire('heavy'));
  t.pass('a released slot of the key can be taken again');
});

t.test('drain refuses the waiters; close refuses everyone; memory pressure refuses new requests', async (t) => {
  const a = new Admission({ ...opts, max: 1, shedThreshold: 1 });
  const r = granted(a.acquire('k'));
  const w = a.acquire('k') as Waiting;
  a.drain();
  t.same(await w.promise, { ok: false, reason: 'draining' });
  t.ok(a.draining);
  r();
  granted(a.acquire('k'))();
  t.pass('while draining, requests that find a free slot are still served');
  a.setMemoryPressure(true);
  t.same(a.acquire('k'), { ok: false, reason: 'memory_pressure' });
  a.setMemoryPressure(false);
  a.close();
  t.same(a.acquire('k'), { ok: false, reason: 'draining' });
});
