// The SSE writer against a fake sink: credit returned in lumps, nothing granted while the sink is backed up.
import t from 'tap';
import { SseWriter, type Sink } from '../src/sse/writer.js';

class FakeSink implements Sink {
  written: string[] = [];
  accept = true;
  ended: string | null = null;
  write(chunk: string): boolean {
    this.written.push(chunk);
    return this.accept;
  }
  end(chunk: string): void {
    this.ended = chunk;
  }
  close(): void {}
}

t.test('credit comes back in lumps of half the budget while the client keeps up', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, (n) => grants.push(n), 1000);
  for (let i = 0; i < 10; i++) w.push('x'.repeat(100), 100);
  t.same(grants, [500, 500]);
  t.equal(sink.written.length, 10, 'every chunk written at once');
  t.equal(w.pending, 0);
});

t.test('a backed-up sink: chunks queue, no credit, then one write and the credit on writable', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, (n) => grants.push(n), 1000);
  sink.accept = false;
  w.push('a', 300); // taken by the sink but buffered there
  w.push('b', 300); // queued here
  w.push('c', 300);
  t.equal(sink.written.length, 1, 'stopped writing after the first refusal');
  t.ok(w.blocked);
  t.equal(w.pending, 900);
  t.same(grants, [], 'no credit while backed up');
  t.notOk(w.onWritable(), 'still backed up');
  t.equal(sink.written.at(-1), 'bc', 'the queue went out as one write');
  t.same(grants, []);
  sink.accept = true;
  t.ok(w.onWritable());
  t.equal(sink.written.at(-1), ':\n', 'nothing queued: a comment probe makes the sink report that it drained');
  t.same(grants, [900], 'then all of it is credited');
  t.equal(w.pending, 0);
});

t.test('end writes what is queued and the terminal text once; heartbeats skip a backed-up sink', async (t) => {
  const sink = new FakeSink();
  const w = new SseWriter(sink, () => undefined, 1000);
  sink.accept = false;
  w.push('a', 1);
  w.push('b', 1);
  w.heartbeat(': keep-alive\n\n');
  t.equal(sink.written.length, 1, 'no heartbeat into a backed-up sink');
  w.end('data: [DONE]\n\n');
  w.end('again');
  t.equal(sink.ended, 'bdata: [DONE]\n\n');
  t.ok(w.ended);
});
