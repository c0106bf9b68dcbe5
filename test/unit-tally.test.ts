// The hot-path metrics (src/monitoring/tally.ts): each label tuple is its own cell, however the values share prefixes.
import t from 'tap';
import { Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from '../src/monitoring/tally.js';

t.test('a counter keeps one cell per label tuple, in the order they first came', async (t) => {
  const c = new TallyCounter('x_total', 'help', ['route', 'status', 'outcome'], new Registry());
  c.inc(['/v1/chat/completions', '200', 'ok']);
  c.inc(['/v1/chat/completions', '500', 'upstream_error']);
  c.inc(['/v1/chat/completions', '200', 'ok']);
  c.inc(['/v1/embeddings', '200', 'ok'], 5);
  // values that would read alike if joined or cut differently stay apart
  c.inc(['a', 'bc', 'd']);
  c.inc(['ab', 'c', 'd']);
  c.inc(['a', 'b', 'cd']);
  const { values } = await c.get();
  t.same(values, [
    { labels: { route: '/v1/chat/completions', status: '200', outcome: 'ok' }, value: 2 },
    { labels: { route: '/v1/chat/completions', status: '500', outcome: 'upstream_error' }, value: 1 },
    { labels: { route: '/v1/embeddings', status: '200', outcome: 'ok' }, value: 5 },
    { labels: { route: 'a', status: 'bc', outcome: 'd' }, value: 1 },
    { labels: { route: 'ab', status: 'c', outcome: 'd' }, value: 1 },
    { labels: { route: 'a', status: 'b', outcome: 'cd' }, value: 1 },
  ]);
});

t.test('a histogram counts per bucket and label tuple; a missing label reads as empty', async (t) => {
  const h = new TallyHistogram('y_seconds', 'help', ['route', 'outcome'], [0.01, 0.1], new Registry());
  h.observe(['/v1/chat/completions', 'ok'], 0.005);
  h.observe(['/v1/chat/completions', 'ok'], 0.05);
  h.observe(['/v1/chat/completions', 'ok'], 3);
  h.observe(['/v1/models'], 0.01);
  const { values } = await h.get();
  const of = (route: string, outcome: string): Array<[string, unknown, number]> =>
    values.filter((v) => v.labels['route'] === route && v.labels['outcome'] === outcome).map((v) => [v.metricName ?? '', v.labels['le'], v.value]);
  t.same(of('/v1/chat/completions', 'ok'), [
    ['y_seconds_bucket', 0.01, 1], ['y_seconds_bucket', 0.1, 2], ['y_seconds_bucket', '+Inf', 3], ['y_seconds_sum', undefined, 3.055], ['y_seconds_count', undefined, 3],
  ]);
  t.same(of('/v1/models', ''), [['y_seconds_bucket', 0.01, 1], ['y_seconds_bucket', 0.1, 1], ['y_seconds_bucket', '+Inf', 1], ['y_seconds_sum', undefined, 0.01], ['y_seconds_count', undefined, 1]]);
});
