// The credit loop between a worker and the SSE writer (unit): with a client that takes every byte, a stream never
// stops for credit. Both ends are the real ones: the worker's Outflow (never more than its credit, the rest in
// pieces) and the main thread's SseWriter (latest write held until proven sent, a probe when the worker starves).
import t from 'tap';
import { SseWriter, type Sink } from '../src/sse/writer.js';
import { Outflow } from '../workers/outflow.js';

/** A client that keeps up: every write is taken in full. */
class FastSink implements Sink {
  writes = 0;
  bytes = 0;
  probes = 0;
  write(chunk: Uint8Array | string, more: readonly Uint8Array[] = []): boolean {
    this.writes++;
    if (typeof chunk === 'string') this.probes++; // the writer's own comment probes, not stream bytes
    else this.bytes += chunk.byteLength;
    for (const m of more) this.bytes += m.byteLength;
    return true;
  }
  end(): void {}
  close(): void {}
  flush(): void {}
}

/**
 * Runs `chunks` (sizes in bytes: upstream reads of whole events) through the worker's Outflow and the writer, with
 * messages between the threads delivered in order and turns of the event loop in between; returns how many
 * bytes reached the client when the loop had nothing left to do.
 */
async function run(budget: number, chunks: readonly number[]): Promise<{ delivered: number; total: number; pending: number; probes: number }> {
  const work: Array<() => void> = []; // messages between the threads, in order
  const sink = new FastSink();
  let paused = false;
  let next = 0;
  const outflow = new Outflow(budget, (chunk, cut) => work.push(() => writer.push(chunk, cut)));
  const writer: SseWriter = new SseWriter(sink, { grant: (n) => work.push(() => onCredit(n)) }, budget);
  const read = (): void => {
    while (!paused && next < chunks.length) if (!outflow.write(Buffer.alloc(chunks[next++]!, 0x61))) paused = true;
  };
  function onCredit(n: number): void {
    if (outflow.grant(n)) {
      paused = false;
      read();
    }
  }
  read();
  for (let idle = 0; idle < 3; ) {
    if (work.length > 0) {
      idle = 0;
      work.shift()!();
    } else {
      idle++;
      await new Promise((r) => setImmediate(r)); // the writer's end-of-turn probe, if it wants one
    }
  }
  return { delivered: sink.bytes, total: chunks.reduce((a, b) => a + b, 0), pending: writer.pending, probes: sink.probes };
}

/** [name, budget (STREAM_BUFFER_SIZE), upstream read sizes]: each stalled on 3e46055 but the last (issue-12 test report). */
const cases: Array<[string, number, number[]]> = [
  ['20 events of 4237 bytes (sim/echo;size=4000)', 16384, Array(20).fill(4237)],
  ['100 events of 2238 bytes (sim/echo;size=2000)', 16384, Array(100).fill(2238)],
  ['300 events of 8230 bytes', 16384, Array(300).fill(8230)],
  ['one 20 KiB event, then more', 16384, [20230, 100, 100, 100]],
  ['40 KB upstream reads with a 64 KiB budget', 65536, Array(50).fill(40000)],
  ['500 small events (300 bytes)', 16384, Array(500).fill(300)],
  ['events larger than the whole budget', 16384, Array(10).fill(50_000)],
];

for (const [name, budget, chunks] of cases) {
  t.test(`${name}: a client that keeps up gets every byte`, async (t) => {
    const r = await run(budget, chunks);
    t.equal(r.delivered, r.total, `${r.delivered} of ${r.total} bytes reached the client (writer pending ${r.pending}, ${r.probes} probes)`);
  });
}
