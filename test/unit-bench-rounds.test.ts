// The bench's round order (perf/scenarios/common.ts roundOrder): with --rounds, no target always runs first.
import t from 'tap';
import { roundOrder } from '../perf/scenarios/common.js';

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
