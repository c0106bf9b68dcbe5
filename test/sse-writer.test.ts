// The SSE writer against a fake sink: credit returned in lumps, nothing granted while the sink is backed up.
import t from 'tap';
import { SseWriter, type Sink } from '../src/sse/writer.js';

const bytes = (n: number, c = 'x'): Buffer => Buffer.from(c.repeat(n));

class FakeSink implements Sink {
  written: string[] = [];
  accept = true;
  ended: string | null = null;
  write(chunk: Uint8Array | string, more: readonly Uint8Array[] = []): boolean {
    this.written.push(Buffer.from(chunk).toString() + more.map((m) => Buffer.from(m).toString()).join(''));
    return this.accept;
  }
  end(chunk: Uint8Array | string): void {
    this.ended = Buffer.from(chunk).toString();
  }
  close(): void {}
  flushes = 0;
  flush(): void {
    this.flushes++;
  }
}

t.test('credit comes back in lumps of half the budget while the client keeps up', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 1000);
  for (let i = 0; i < 11; i++) w.push(bytes(100));
  t.same(grants, [500, 500], 'each write that is taken proves the one before it sent');
  t.equal(sink.written.length, 11, 'every chunk written at once');
  t.equal(w.pending, 100, 'the latest chunk may still sit in the sink’s own buffer: it counts as held');
});

t.test('a write taken “in full” whose bytes stayed in the sink: onWritable writes a probe, which drains them', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 200);
  w.push(bytes(150));
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
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 1000);
  sink.accept = false;
  w.push(bytes(300, 'a')); // taken by the sink but buffered there
  w.push(bytes(300, 'b')); // queued here
  w.push(bytes(300, 'c'));
  t.equal(sink.written.length, 1, 'stopped writing after the first refusal');
  t.ok(w.blocked);
  t.equal(w.pending, 900);
  t.same(grants, [], 'no credit while backed up');
  t.notOk(w.onWritable(), 'still backed up');
  t.equal(sink.written.at(-1), 'b'.repeat(300) + 'c'.repeat(300), 'the queue went out as one write');
  t.same(grants, []);
  sink.accept = true;
  t.ok(w.onWritable());
  t.equal(sink.written.at(-1), ':\n', 'nothing queued: a comment probe makes the sink report that it drained');
  t.same(grants, [900], 'then all of it is credited');
  t.equal(w.pending, 0);
  w.push(bytes(300, 'd'));
  t.equal(w.pending, 300, 'a new chunk is held until the next write proves it sent');
});

t.test('end writes what is queued and the terminal text once; heartbeats skip a backed-up sink', async (t) => {
  const sink = new FakeSink();
  const w = new SseWriter(sink, { grant: () => undefined }, 1000);
  sink.accept = false;
  w.push(bytes(1, 'a'));
  w.push(bytes(1, 'b'));
  w.heartbeat(': keep-alive\n\n');
  t.equal(sink.written.length, 1, 'no heartbeat into a backed-up sink');
  w.end('data: [DONE]\n\n');
  w.end('again');
  t.equal(sink.ended, 'bdata: [DONE]\n\n');
  t.ok(w.ended);
});

t.test('a chunk that ends inside an event: no probe and no heartbeat may follow it; onWritable drains without writing', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 200);
  w.push(bytes(100, 'a'), true);
  t.same(grants, [100], 'a cut chunk taken counts as sent at once (no probe can prove it)');
  w.heartbeat(': keep-alive\n\n');
  t.equal(sink.written.length, 1, 'no heartbeat inside an event');
  sink.accept = false;
  w.push(bytes(50, 'b'), true);
  t.ok(w.blocked);
  t.ok(w.onWritable(), 'uWS asks while inside an event with nothing queued');
  t.equal(sink.written.length, 2, 'nothing written (a probe would land inside the event)');
  t.equal(sink.flushes, 1, 'the sink was asked to drain instead');
  w.push(bytes(30, 'c'));
  t.equal(sink.written.at(-1), 'c'.repeat(30), 'the rest of the event follows');
  sink.accept = true;
  w.end('data: [DONE]\n\n');
  t.equal(sink.ended, 'data: [DONE]\n\n', 'ended between events: the terminal text as is');
});

t.test('ended by the proxy inside an event: the broken event is closed before the error event', async (t) => {
  const sink = new FakeSink();
  const w = new SseWriter(sink, { grant: () => undefined }, 200);
  w.push(bytes(10, 'a'), true);
  w.end('data: {"error":{}}\n\n');
  t.equal(sink.ended, '\n\ndata: {"error":{}}\n\n');
});

t.test('starving: when the worker waits on the latest write’s credit, a probe at the end of the turn proves it', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 200);
  w.push(bytes(200, 'a')); // the whole budget: the worker cannot send more
  t.same(grants, [], 'not proven yet');
  await new Promise((r) => setImmediate(r));
  t.equal(sink.written.at(-1), ':\n', 'a probe was written');
  t.same(grants, [200], 'and the credit went back');
});

t.test('a run of chunks (joined by the worker) is one write: one send, credit as for one chunk of all its bytes', async (t) => {
  const sink = new FakeSink();
  const grants: number[] = [];
  const w = new SseWriter(sink, { grant: (n) => grants.push(n) }, 1000);
  w.push(bytes(100, 'a'), false, [bytes(100, 'b'), bytes(100, 'c')]);
  t.same(sink.written, ['a'.repeat(100) + 'b'.repeat(100) + 'c'.repeat(100)], 'one write, the bytes in order');
  t.equal(w.pending, 300, 'all of it unconfirmed until the next write is taken');
  w.push(bytes(300, 'd'), false, [bytes(100, 'e')]);
  t.same(grants, [], 'less than a lump (500) proven sent');
  w.push(bytes(100, 'f'));
  t.same(grants, [700], 'the runs proven sent, 300 + 400 bytes, in one lump');
  sink.accept = false;
  w.push(bytes(10, 'g')); // taken by the sink but buffered there
  w.push(bytes(10, 'h'), false, [bytes(10, 'i')]); // queued here, as one chunk
  t.equal(w.pending, 130, 'the run is queued while the sink is backed up');
  sink.accept = true;
  t.ok(w.onWritable());
  t.equal(sink.written.at(-1), 'h'.repeat(10) + 'i'.repeat(10), 'the queued run goes on writable, in order');
});
