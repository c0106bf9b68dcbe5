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
  for (let i = 0; i < 11; i++) w.push('x'.repeat(100), 100);
  t.same(grants, [500, 500], 'each write that is taken proves the one before it sent');
  t.equal(sink.written.length, 11, 'every chunk written at once');
  t.equal(w.pending, 100, 'the latest chunk may still sit in the sink’s own buffer: it counts as held');
});

t.test('a write taken “in full” whose bytes stayed in the sink: onWritable writes a probe, which drains them', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, (n) => grants.push(n), 200);
  w.push('a'.repeat(150), 150);
  t.notOk(w.blocked, 'the sink said true');
  t.equal(w.pending, 150, 'but its bytes are not proven sent');
  t.ok(w.onWritable(), 'uWS asks (it holds bytes): the writer answers with a write');
  t.equal(sink.written.at(-1), ':\n', 'a comment probe, since nothing is queued');
  t.same(grants, [150], 'the probe taken proves the 150 bytes sent');
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
  w.push('d', 300);
  t.equal(w.pending, 300, 'a new chunk is held until the next write proves it sent');
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
