// The bench's slowclient scenario (perf/scenarios/slowclient.ts): the figure per added stream, where a process's one-time costs cancel out, and the aim it is held to.
import t from 'tap';
import { aimBuffer, marginalKbPerStream } from '../perf/scenarios/slowclient.js';

t.test('a cost paid once per process cancels out; what each stream costs is left', async (t) => {
  for (const [onceKb, perStreamKb] of [[100_000, 17], [30_000, 68], [0, 40]] as const) {
    const run = (n: number): { established: number; kbPerStream: number } => ({ established: n, kbPerStream: (onceKb + n * perStreamKb) / n });
    const few = run(300);
    const many = run(900);
    t.ok(few.kbPerStream > many.kbPerStream || onceKb === 0, 'per stream of one run, the smaller run looks dearer');
    t.equal(Math.round(marginalKbPerStream(few, many) * 1000) / 1000, perStreamKb, `${onceKb} KB once, ${perStreamKb} KB per stream`);
  }
});

t.test('streams that did not establish are not counted', async (t) => {
  // 300 and 850 of 900 established: 550 more streams, not 600
  const m = marginalKbPerStream({ established: 300, kbPerStream: 100 }, { established: 850, kbPerStream: (30_000 + 550 * 50) / 850 });
  t.equal(Math.round(m * 1000) / 1000, 50);
});

t.test('no streams added: no figure', async (t) => {
  t.ok(Number.isNaN(marginalKbPerStream({ established: 300, kbPerStream: 90 }, { established: 300, kbPerStream: 80 })));
  t.ok(Number.isNaN(marginalKbPerStream({ established: 300, kbPerStream: 90 }, { established: 200, kbPerStream: 80 })));
});

t.test("the aim is this build's STREAM_BUFFER_SIZE: a before build run with its own does not move it", async (t) => {
  // targets run in order; before0 with BENCH_BEFORE_SERVICE_ENV={"STREAM_BUFFER_SIZE":"8192"} came after the default
  let buffer = 16_384;
  buffer = aimBuffer(buffer, 'default', 16_384);
  buffer = aimBuffer(buffer, 'before0', 8_192);
  buffer = aimBuffer(buffer, 'floor', undefined);
  t.equal(buffer / 1024 + 16, 32, 'the goal stays 16 KB + 16 KB');
  t.equal(aimBuffer(16_384, 'pool', 65_536), 65_536, 'this build with --buffer or BENCH_SERVICE_ENV: its own size');
  t.equal(aimBuffer(16_384, 'nginx', null), 16_384, 'a target without /status leaves it');
});
