// Tests of the SSE framer: line endings, reads split anywhere, UTF-8 across reads, flush, overflow, properties.
import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { SseFramer, type FramedEvent } from '../workers/sse-framer.js';
import { bytesAllocated } from './helpers/alloc-spy.js';
import { keepable } from '../workers/keep.js';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Pushes each read in turn, then flushes; returns every event. */
function frame(reads: Uint8Array[], max = 1 << 20): FramedEvent[] {
  const f = new SseFramer(max);
  const out: FramedEvent[] = [];
  for (const r of reads) out.push(...f.push(r));
  const last = f.flush();
  if (last !== null) out.push(last);
  return out;
}

/** Splits bytes at the given cut points (any order, duplicates allowed: empty reads). */
function split(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (b.length + 1)).sort((x, y) => x - y);
  const reads: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) { reads.push(b.subarray(prev, p)); prev = p; }
  reads.push(b.subarray(prev));
  return reads;
}

const bytewise = (s: string): Uint8Array[] => [...enc(s)].map((x) => Uint8Array.of(x));

void t.test('LF events, whole and byte by byte', async (t) => {
  const s = 'data: {"a":1}\n\ndata: {"b":2}\n\n';
  const want = [{ raw: 'data: {"a":1}\n\n', data: '{"a":1}' }, { raw: 'data: {"b":2}\n\n', data: '{"b":2}' }];
  t.same(frame([enc(s)]), want);
  t.same(frame(bytewise(s)), want);
  const f = new SseFramer(1000);
  t.same(f.push(enc('data: x\n')), []);
  t.equal(f.pending, 8);
  t.same(f.push(enc('\n')), [{ raw: 'data: x\n\n', data: 'x' }]);
  t.equal(f.pending, 0);
});

void t.test('CRLF, CR and mixed endings', async (t) => {
  t.same(frame([enc('data: a\r\n\r\ndata: b\r\n\r\n')]), [
    { raw: 'data: a\r\n\r\n', data: 'a' }, { raw: 'data: b\r\n\r\n', data: 'b' }]);
  t.same(frame([enc('data: a\r\rdata: b\r\r')]), [{ raw: 'data: a\r\r', data: 'a' }, { raw: 'data: b\r\r', data: 'b' }]);
  t.same(frame([enc('data: a\rdata: b\r\n\ndata: c\n\r\n')]), [
    { raw: 'data: a\rdata: b\r\n\n', data: 'a\nb' }, { raw: 'data: c\n\r\n', data: 'c' }]);
});

void t.test('a CRLF split across reads is one line break', async (t) => {
  const f = new SseFramer(1000);
  t.same(f.push(enc('data: a\r')), []);
  t.same(f.push(enc('\ndata: b\r')), []);
  t.same(f.push(enc('\n\r')), [], 'the blank CR may still take an LF');
  t.same(f.push(enc('\ndata: c\r\n\r\n')), [
    { raw: 'data: a\r\ndata: b\r\n\r\n', data: 'a\nb' }, { raw: 'data: c\r\n\r\n', data: 'c' }]);
  t.equal(f.pending, 0);
  const g = new SseFramer(1000);
  t.same(g.push(enc('data: a\r\r')), [], 'CR-only: held until the next byte is known');
  t.same(g.push(enc('data: b\r\r')), [{ raw: 'data: a\r\r', data: 'a' }]);
  t.same(g.flush(), { raw: 'data: b\r\r', data: 'b' });
});

void t.test('UTF-8 split inside a multibyte char and an emoji', async (t) => {
  const s = 'data: {"c":"é中😀"}\n\n';
  const b = enc(s);
  const at = b.indexOf(0xf0); // first byte of the emoji
  for (const cut of [b.indexOf(0xc3) + 1, b.indexOf(0xe4) + 1, b.indexOf(0xe4) + 2, at + 1, at + 2, at + 3]) {
    t.same(frame([b.subarray(0, cut), b.subarray(cut)]), [{ raw: s, data: '{"c":"é中😀"}' }], `cut ${cut}`);
  }
  t.same(frame(bytewise(s)), [{ raw: s, data: '{"c":"é中😀"}' }]);
});

void t.test('comments, other fields, multi-line data, empty events', async (t) => {
  t.same(frame([enc(': ping\n\n')]), [{ raw: ': ping\n\n', data: null }]);
  t.same(frame([enc('data: : ping\n\n')]), [{ raw: 'data: : ping\n\n', data: ': ping' }]);
  t.same(frame([enc('event: x\nid: 3\nretry: 5\n\n')]), [{ raw: 'event: x\nid: 3\nretry: 5\n\n', data: null }]);
  t.same(frame([enc(': c\ndata: a\ndata:b\ndata\ndata:  c\n\n')]), [
    { raw: ': c\ndata: a\ndata:b\ndata\ndata:  c\n\n', data: 'a\nb\n\n c' }]);
  t.same(frame([enc('database: x\ndata:\n\n')]), [{ raw: 'database: x\ndata:\n\n', data: '' }]);
  t.same(frame([enc('\ndata: a\n\n\n')]), [
    { raw: '\n', data: null }, { raw: 'data: a\n\n', data: 'a' }, { raw: '\n', data: null }]);
});

void t.test('many events in one read: ASCII and UTF-8 reads, after a held partial event', async (t) => {
  const evs = ['data: {"a":1}\n\n', ': ping\n\n', 'data: a\r\n\r\n', 'data: x\ndata: y\n\n', 'data\n\n', '\n',
    'event: e\n\n', 'data: {"b":2}\n\n'];
  const expect = frame(evs.flatMap((e) => bytewise(e)));
  t.same(expect.map((e) => e.raw), evs);
  t.same(expect.map((e) => e.data), ['{"a":1}', null, 'a', 'x\ny', '', null, null, '{"b":2}']);
  for (const text of [evs.join(''), evs.join('').replace('{"a":1}', '{"a":"é"}')]) {
    const b = enc(text);
    const one = frame([b]);
    t.equal(one.map((e) => e.raw).join(''), text);
    for (const cut of [3, 20, b.length - 3]) t.strictSame(frame([b.subarray(0, cut), b.subarray(cut)]), one, `cut ${cut}`);
  }
  t.strictSame(frame([enc(evs.join(''))]), expect);
});

void t.test('missing final blank line: flush', async (t) => {
  const f = new SseFramer(1000);
  t.same(f.push(enc('data: a\n\ndata: [DONE]\n')), [{ raw: 'data: a\n\n', data: 'a' }]);
  t.same(f.flush(), { raw: 'data: [DONE]\n', data: '[DONE]' });
  t.equal(f.flush(), null);
  t.equal(f.pending, 0);
  t.same(frame([enc('data: [DONE]')]), [{ raw: 'data: [DONE]', data: '[DONE]' }]);
  t.same(frame([]), []);
});

void t.test('overflow', async (t) => {
  const f = new SseFramer(16);
  t.same(f.push(enc('data: 12345678\n\n')), [{ raw: 'data: 12345678\n\n', data: '12345678' }], '16 bytes fit');
  t.same(f.push(enc('data: 1234')), []);
  t.equal(f.overflowed, false);
  t.same(f.push(enc('56789\n\n')), []);
  t.equal(f.overflowed, true);
  t.equal(f.pending, 0);
  t.same(f.push(enc('data: a\n\n')), [], 'input dropped after overflow');
  t.equal(f.flush(), null);
  const g = new SseFramer(10);
  t.same(g.push(enc('data: a\n\ndata: 0123456789\n\ndata: b\n\n')), [{ raw: 'data: a\n\n', data: 'a' }],
    'an oversized event inside one read overflows too, events before it are kept');
  t.equal(g.overflowed, true);
  t.throws(() => new SseFramer(0));
});

// ---- properties ----

const valueChar = fc.constantFrom('a', 'Z', ' ', ':', '"', '{', '}', 'é', '中', '😀', '\u2028', '\u0000');
const value = fc.string({ unit: valueChar, maxLength: 12 });
const line = fc.oneof(
  value.map((v) => ({ text: `data: ${v}`, data: v })),
  value.map((v) => ({ text: `data:${v}`, data: v.startsWith(' ') ? v.slice(1) : v })),
  value.map((v) => ({ text: `:${v}`, data: null })),
  value.map((v) => ({ text: `event: ${v}`, data: null })),
);
const event = fc.array(line, { minLength: 1, maxLength: 4 });
const style = fc.constantFrom('\n', '\r\n', '\r', 'mixed');
const stream = fc.tuple(fc.array(event, { maxLength: 6 }), style, fc.array(fc.constantFrom('\n', '\r\n', '\r'), {
  minLength: 64, maxLength: 64,
}));

/** Builds a valid stream and the events a correct framer must produce. */
function build([events, st, picks]: [{ text: string; data: string | null }[][], string, string[]]):
  { text: string; want: FramedEvent[] } {
  let text = '';
  let k = 0;
  let prev = '';
  const term = (): string => {
    let x = st === 'mixed' ? picks[k++ % picks.length] as string : st;
    if (prev === '\r' && x === '\n') x = '\r\n'; // CR then LF would be one break, not two
    prev = x;
    return x;
  };
  const want: FramedEvent[] = [];
  for (const ev of events) {
    let raw = '';
    let data: string | null = null;
    for (const l of ev) {
      raw += l.text + term();
      if (l.data !== null) data = data === null ? l.data : `${data}\n${l.data}`;
    }
    raw += term();
    prev = '';
    want.push({ raw, data });
    text += raw;
  }
  return { text, want };
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

void t.test('property: any split of a valid stream gives the same events as one read', async (t) => {
  fc.assert(fc.property(stream, cuts, (s, c) => {
    const { text, want } = build(s);
    const b = enc(text);
    const one = frame([b]);
    assert.deepStrictEqual(one, want);
    assert.deepStrictEqual(frame(split(b, c)), one);
  }), { numRuns: 2000 });
  fc.assert(fc.property(stream, (s) => {
    const { text, want } = build(s);
    assert.deepStrictEqual(frame(bytewise(text)), want);
  }), { numRuns: 300 });
  t.pass('held');
});

void t.test('property: arbitrary bytes never throw, pending stays within the cap', async (t) => {
  // The framer checks the cap before it copies anything: pending <= maxEventBytes always (no extra read).
  const noisy = fc.uint8Array({ maxLength: 300 });
  const bytes = fc.oneof(noisy, fc.array(fc.constantFrom(10, 13, 58, 100, 97, 116, 0xc3, 0xa9, 0xf0, 0x9f, 32, 0xff),
    { maxLength: 300 }).map((a) => Uint8Array.from(a)));
  fc.assert(fc.property(bytes, cuts, fc.integer({ min: 1, max: 64 }), (b, c, max) => {
    const f = new SseFramer(max);
    for (const r of split(b, c)) {
      for (const ev of f.push(r)) {
        assert.ok(Buffer.byteLength(ev.raw) > 0);
      }
      assert.ok(f.pending <= max, `pending ${f.pending} > cap ${max}`);
    }
    f.flush();
    assert.equal(f.pending, 0);
    // With a cap that is never reached, any split gives the same events as one read.
    assert.deepStrictEqual(frame(split(b, c), 1 << 20), frame([b], 1 << 20));
  }), { numRuns: 2000 });
  t.pass('held');
});

void t.test('property: raw events plus what is pending are the input (valid UTF-8)', async (t) => {
  const ch = fc.constantFrom('\n', '\r', '\r\n', 'd', 'data: ', ':', ' ', 'é', '中', '😀', 'x');
  const text = fc.oneof(fc.string({ unit: ch, maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }));
  fc.assert(fc.property(text, cuts, (s, c) => {
    const b = enc(s);
    const f = new SseFramer(1 << 20);
    let got = '';
    for (const r of split(b, c)) for (const ev of f.push(r)) got += ev.raw;
    assert.equal(Buffer.byteLength(got) + f.pending, b.length);
    const last = f.flush();
    assert.equal(got + (last === null ? '' : last.raw), b.toString('utf8'));
  }), { numRuns: 2000 });
  t.pass('held');
});

void t.test('property: events larger than the small held buffer, split anywhere, frame as one read does', async (t) => {
  const ev = fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom('\n\n', '\r\n\r\n', '\r\r', '\ndata: y\n\n'))
    .map(([n, end]) => `data: ${'é中x'.repeat(n)}${end}`);
  fc.assert(fc.property(fc.array(ev, { maxLength: 4 }), cuts, (evs, c) => {
    const b = enc(evs.join(''));
    assert.deepStrictEqual(frame(split(b, c)), frame([b]));
  }), { numRuns: 300 });
  t.pass('held');
});

void t.test('a large event across many reads is copied once, when it ends (not regrown read by read)', async (t) => {
  const text = `data: ${'x'.repeat(64 * 1024 - 8)}\n\n`;
  const b = enc(text);
  const reads: Buffer[] = [];
  for (let i = 0; i < b.length; i += 8192) reads.push(Buffer.from(b.subarray(i, i + 8192)));
  const f = new SseFramer(1 << 20);
  const got: string[] = [];
  const bytes = bytesAllocated(() => {
    for (const r of reads) f.scan(r, (buf, s, e) => { got.push(buf.toString('latin1', s, e)); });
  });
  t.same(got.length, 1);
  t.ok(got[0] === text, 'the event, whole');
  // one copy of the event, and no more than the small held buffer besides (growing a buffer read by read: ~3×)
  t.ok(bytes <= b.length + 2048, `${bytes} bytes allocated for a ${b.length}-byte event`);
});

void t.test('the start of a large event that is a small part of its read is copied, not kept as a view of the read', async (t) => {
  const small = 'data: {"a":1}\n\n'.repeat(430); // 6,450 bytes of whole events
  const big = `data: ${'y'.repeat(3000)}\n\n`;
  const a = Buffer.from(small + big.slice(0, 8192 - small.length)); // one 8 KB read ending 1,742 bytes into `big`
  const f = new SseFramer(1 << 20);
  const seen: Buffer[] = [];
  const bytes = bytesAllocated(() => f.scan(a, (b) => { seen.push(b); }));
  t.ok(seen.every((b) => b.buffer === a.buffer), 'whole events in the read are ranges of it');
  t.ok(bytes >= 8192 - small.length, `the held start (${8192 - small.length} bytes) is a copy: ${bytes} bytes allocated`);
  const got: string[] = [];
  f.scan(Buffer.from(big.slice(8192 - small.length)), (b, s, e) => { got.push(b.toString('latin1', s, e)); });
  t.same(got, [big]);
  // workers/keep.ts: a piece that is most of its buffer is kept as it is, a small one copied
  t.equal(keepable(a.subarray(1000)).buffer, a.buffer, 'most of its buffer: a view');
  const c = keepable(a.subarray(8000));
  t.not(c.buffer, a.buffer, 'a small part: a copy');
  t.ok(Buffer.from(c).equals(a.subarray(8000)), 'the same bytes');
});
