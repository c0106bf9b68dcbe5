// MirrorHealth (unit): one circuit state per mirror for the whole instance, one half-open probe, panic routing.
import t from 'tap';
import { MirrorHealth } from '../workers/protocol.js';
import { health } from './helpers/fakes.js';

t.test('closed mirrors are taken in order from the attempt number; exclude skips one', async (t) => {
  const h = health(3);
  t.same(h.pick(0), { index: 0, probe: 0 });
  t.same(h.pick(1), { index: 1, probe: 0 });
  t.same(h.pick(4), { index: 1, probe: 0 }, 'attempt numbers wrap around the list');
  t.same(h.pick(1, [1]), { index: 2, probe: 0 }, 'the excluded mirror is skipped');
  t.equal(health(1).pick(0, [0]), null, 'excluding the only mirror leaves none');
  t.same(h.views().map((v) => v.attempts), [1, 2, 1], 'each pick counts an attempt');
});

t.test('CIRCUIT_FAILURES failures in a row open a circuit; a success in between resets the count', async (t) => {
  let now = 0;
  const h = health(2, 3, 1000, () => now);
  const p0 = { index: 0, probe: 0 };
  h.failure(p0);
  h.failure(p0);
  h.success(p0, 10);
  h.failure(p0);
  h.failure(p0);
  t.equal(h.view(0).circuit, 'closed', 'two in a row after a success: still closed');
  h.failure(p0);
  t.equal(h.view(0).circuit, 'open', 'the third in a row opens it');
  t.same(h.pick(0), { index: 1, probe: 0 }, 'an open mirror is skipped');
  t.equal(h.view(0).failures, 5, 'every failure counted');
  now = 999;
  t.same(h.pick(0), { index: 1, probe: 0 }, 'still open just before the reset time');
});

t.test('after the reset time exactly one attempt probes; only its verdict or release ends the probe', async (t) => {
  let now = 0;
  const h = health(2, 1, 1000, () => now);
  h.failure({ index: 0, probe: 0 });
  now = 1000;
  const probe = h.pick(0)!;
  t.equal(probe.index, 0);
  t.ok(probe.probe !== 0, 'the first attempt after the reset holds the probe');
  t.equal(h.view(0).circuit, 'half_open');
  t.same(h.pick(0), { index: 1, probe: 0 }, 'a second attempt meanwhile goes elsewhere');
  h.release({ index: 0, probe: 0 });
  t.same(h.pick(0), { index: 1, probe: 0 }, 'a release by an attempt that is not the probe changes nothing');
  h.failure(probe);
  t.equal(h.view(0).circuit, 'open', 'a failed probe opens the circuit again');
  now = 1500;
  t.same(h.pick(0), { index: 1, probe: 0 }, 'for another full reset time');
  now = 2000;
  const second = h.pick(0)!;
  t.ok(second.probe !== 0 && second.probe !== probe.probe, 'then a new probe');
  h.release(second);
  const third = h.pick(0)!;
  t.ok(third.probe !== 0, 'a probe released without a verdict lets the next request probe');
  h.success(third, 20);
  t.equal(h.view(0).circuit, 'closed', 'a successful probe closes the circuit');
  t.equal(h.view(0).latencyMs, 20);
});

t.test('a probe whose worker died stops blocking after a reset time', async (t) => {
  let now = 0;
  const h = health(1, 1, 1000, () => now);
  h.failure({ index: 0, probe: 0 });
  now = 1000;
  const lost = h.pick(0)!;
  t.ok(lost.probe !== 0);
  now = 1500;
  t.equal(h.pick(0)?.probe, 0, 'while the probe is young, the lone mirror is used by panic routing, not probed');
  now = 2000;
  t.ok(h.pick(0)!.probe !== 0, 'a probe older than the reset time is taken over');
});

t.test('every circuit open: panic routing to the mirror whose circuit opened first', async (t) => {
  let now = 0;
  const h = health(3, 1, 10_000, () => now);
  now = 5;
  h.failure({ index: 1, probe: 0 });
  now = 6;
  h.failure({ index: 2, probe: 0 });
  now = 7;
  h.failure({ index: 0, probe: 0 });
  t.same(h.views().map((v) => v.circuit), ['open', 'open', 'open']);
  t.same(h.pick(0), { index: 1, probe: 0 }, 'mirror 1 opened first');
  t.same(h.pick(0, [1]), { index: 2, probe: 0 }, 'excluding it: the next oldest');
});

t.test('one state for the instance: views over the same memory (one per worker) agree at once', async (t) => {
  const buf = MirrorHealth.allocate(2);
  const a = new MirrorHealth(buf, 2, 2, 1000, () => 0);
  const b = new MirrorHealth(buf, 2, 2, 1000, () => 0);
  a.failure({ index: 1, probe: 0 });
  b.failure({ index: 1, probe: 0 });
  t.equal(a.view(1).circuit, 'open', 'two failures seen by two workers open the one circuit');
  t.same(b.pick(1), { index: 0, probe: 0 });
  t.equal(a.view(0).attempts, 1, 'attempts counted across views');
});

t.test('the shared memory reaches a worker thread intact', async (t) => {
  const { Worker } = await import('node:worker_threads');
  const buf = MirrorHealth.allocate(1);
  const here = new MirrorHealth(buf, 1, 1, 60_000);
  const src = `const { workerData, parentPort } = require('node:worker_threads');
    const i = new Int32Array(workerData, 8 * (1 + 3), 1 + 4); Atomics.add(i, 1 + 3, 7); parentPort.postMessage('done');`;
  const w = new Worker(src, { eval: true, workerData: buf });
  await new Promise((resolve) => w.once('message', resolve));
  await w.terminate();
  t.equal(here.view(0).failures, 7, 'a write in another thread is seen here');
});

t.test('several mirrors excluded (those that answered 500): only the others are picked', async (t) => {
  const h = health(3);
  t.same(h.pick(1, [1, 2]), { index: 0, probe: 0 });
  t.equal(h.pick(0, [0, 1, 2]), null, 'all excluded: none');
});
