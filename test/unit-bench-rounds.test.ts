// The bench's rounds (perf/scenarios/common.ts): with --rounds, no target always runs first, and a row is its median round.
import t from 'tap';
import { medianBy, roundOrder } from '../perf/scenarios/common.js';

t.test('each round starts one target later, and every target takes every place once in as many rounds', async (t) => {
  const targets = ['nginx', 'default', 'pool'];
  const rounds = [0, 1, 2].map((k) => roundOrder(targets, k));
  t.same(rounds, [
    ['nginx', 'default', 'pool'],
    ['default', 'pool', 'nginx'],
    ['pool', 'nginx', 'default'],
  ]);
  for (let place = 0; place < targets.length; place++) {
    t.same(new Set(rounds.map((r) => r[place])), new Set(targets), `place ${place + 1} held by every target once`);
  }
  t.same(roundOrder(targets, 3), targets, 'round 4 starts over');
  t.same(targets, ['nginx', 'default', 'pool'], 'the given list is not changed');
});

t.test('one target, or none, is measured as it is', async (t) => {
  t.same(roundOrder(['default'], 5), ['default']);
  t.same(roundOrder([], 2), []);
});

t.test('a row is the median round, the lower of the middle two with an even count', async (t) => {
  const rounds = [{ us: 130 }, { us: 101 }, { us: 117 }];
  t.equal(medianBy(rounds, (r) => r.us), rounds[2]);
  t.same(rounds.map((r) => r.us), [130, 101, 117], 'the rounds keep their order');
  t.equal(medianBy([{ us: 4 }, { us: 1 }, { us: 3 }, { us: 2 }], (r) => r.us).us, 2);
  t.equal(medianBy([{ us: 7 }], (r) => r.us).us, 7);
});
