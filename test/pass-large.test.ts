// Events too large to hold go on in pieces as the upstream sends them (issue 13, slow clients: a stream holds at
// most STREAM_BUFFER_SIZE + 16 KB whatever the event size): the framer's pieces, what the relay still reads from
// them, the Outflow's marks, and what a stream whose client stopped reading holds of a 64 KB event.
import t from 'tap';
import fc from 'fast-check';
import { SseFramer } from '../workers/sse-framer.js';
import { PASS_BYTES, StreamRelay } from '../workers/relay.js';
import { Outflow } from '../workers/outflow.js';
import { workerConfig } from './helpers/fakes.js';

const BUDGET = 16_384; // STREAM_BUFFER_SIZE's default

/** Bytes cut into reads of `size` (the last one shorter). */
function reads(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(Buffer.from(b.subarray(i, i + size)));
  return out;
}

/** A chat chunk as an upstream sends it: `content` of n characters, then what `tail` adds to the choice / chunk. */
function chunk(n: number, opts: { finish?: string; usage?: object; error?: object; first?: boolean; crlf?: boolean; space?: boolean } = {}): string {
  const choice = opts.first && opts.finish
    ? `{"index":0,"finish_reason":"${opts.finish}","delta":{"content":"${'x'.repeat(n)}"}}`
    : `{"index":0,"delta":{"content":"${'x'.repeat(n)}"},"finish_reason":${opts.finish ? `"${opts.finish}"` : 'null'}}`;
  const body = `{"id":"c1","object":"chat.completion.chunk","choices":[${choice}]${opts.usage ? `,"usage":${JSON.stringify(opts.usage)}` : ''}${opts.error ? `,"error":${JSON.stringify(opts.error)}` : ''}}`;
  const nl = opts.crlf ? '\r\n' : '\n';
  return `data:${opts.space === false ? '' : ' '}${body}${nl}${nl}`;
}

t.test('framer: an event past passAfter goes on in pieces, in order, holding no more than passAfter and one read', async (t) => {
  const small = chunk(10);
  const big = chunk(64 * 1024);
  const input = Buffer.from(small + big + small);
  const f = new SseFramer(1 << 20, PASS_BYTES);
  const out: string[] = [];
  const pieces: Array<[number, boolean]> = [];
  let most = 0;
  for (const r of reads(input, 5000)) {
    f.scan(r, (b, s, e) => out.push(`E:${b.toString('latin1', s, e)}`), (b, s, e, last) => {
      out.push(`P:${b.toString('latin1', s, e)}`);
      pieces.push([e - s, last]);
    });
    most = Math.max(most, f.pending);
  }
  t.equal(out.map((x) => x.slice(2)).join(''), input.toString('latin1'), 'every byte, in order');
  t.same([out[0], out.at(-1)], [`E:${small}`, `E:${small}`], 'the small events around it stay whole');
  t.ok(pieces.length > 3, `the large event went in ${pieces.length} pieces`);
  t.same(pieces.map(([, last]) => last), pieces.map((_, i) => i === pieces.length - 1), 'only its last piece ends it');
  t.ok(most <= PASS_BYTES + 5000, `held at most ${most} bytes (bound: ${PASS_BYTES} + one read)`);
});

t.test('framer: a large event whose first read brought only its first bytes still goes in pieces', async (t) => {
  const big = chunk(40_000);
  const f = new SseFramer(1 << 20, PASS_BYTES);
  let pieces = 0;
  const events: string[] = [];
  for (const r of [Buffer.from(chunk(1) + big.slice(0, 3)), ...reads(Buffer.from(big.slice(3)), 4096)])
    f.scan(r, (b, s, e) => events.push(b.toString('latin1', s, e)), () => void pieces++);
  t.same(events, [chunk(1)], 'only the small event went whole');
  t.ok(pieces > 3, `the large one in ${pieces} pieces (its "dat" and what followed, seen as one start)`);
});

t.test('framer: what is not a data line of a JSON object, or has no piece sink, is held whole as before', async (t) => {
  const big = 'x'.repeat(40_000);
  for (const [what, text, withSink] of [
    ['an event field first', `event: m\ndata: {"a":"${big}"}\n\n`, true],
    ['a data value that is not an object', `data: "${big}"\n\n`, true],
    ['no piece sink (push)', `data: {"a":"${big}"}\n\n`, false],
  ] as const) {
    const f = new SseFramer(1 << 20, PASS_BYTES);
    const events: string[] = [];
    let pieces = 0;
    for (const r of reads(Buffer.from(text), 4096)) f.scan(r, (b, s, e) => events.push(b.toString('latin1', s, e)), withSink ? () => void pieces++ : undefined);
    t.same([events, pieces], [[text], 0], what);
  }
});

t.test('framer: an upstream that ends inside an event going on in pieces ends it with an empty last piece; the cap still holds', async (t) => {
  const f = new SseFramer(1 << 20, PASS_BYTES);
  const seen: Array<[number, boolean]> = [];
  for (const r of reads(Buffer.from(chunk(30_000).trimEnd()), 8192)) f.scan(r, () => t.fail('no whole event'), (_b, s, e, last) => seen.push([e - s, last]));
  t.notOk(seen.at(-1)![1], 'not over yet');
  f.flushTo(() => t.fail('no whole event'), (_b, s, e, last) => seen.push([e - s, last]));
  t.same(seen.at(-1), [0, true], 'flush ends it');
  const capped = new SseFramer(50_000, PASS_BYTES);
  for (const r of reads(Buffer.from(chunk(80_000)), 8192)) capped.scan(r, () => undefined, () => undefined);
  t.ok(capped.overflowed, 'an event past MAX_EVENT_SIZE still ends the stream, pieces or not');
});

t.test('framer property: any split of events large and small gives the same bytes, in order', async (t) => {
  const ev = fc.tuple(fc.integer({ min: 0, max: 40_000 }), fc.boolean(), fc.boolean()).map(([n, crlf, space]) => chunk(n, { crlf, space }));
  fc.assert(fc.property(fc.array(ev, { maxLength: 4 }), fc.integer({ min: 1, max: 20_000 }), (evs, size) => {
    const input = Buffer.from(evs.join(''));
    const f = new SseFramer(1 << 20, PASS_BYTES);
    const got: string[] = [];
    for (const r of reads(input, size)) f.scan(r, (b, s, e) => got.push(b.toString('latin1', s, e)), (b, s, e) => got.push(b.toString('latin1', s, e)));
    f.flushTo(() => undefined, () => undefined);
    if (got.join('') !== input.toString('latin1')) throw new Error('bytes differ');
  }), { numRuns: 200 });
  t.pass('byte for byte');
});

/** Pushes reads through a relay: every output, with the relay's midEvent after it. */
function relayAll(r: StreamRelay, rs: Buffer[]): Array<[string, boolean]> {
  const out: Array<[string, boolean]> = [];
  for (const x of rs) {
    const o = r.push(x);
    if (o !== null) out.push([Buffer.from(o).toString(), r.midEvent]);
  }
  const last = r.flush();
  if (last !== null) out.push([Buffer.from(last).toString(), r.midEvent]);
  return out;
}

t.test('relay: a 64 KB chunk goes on in pieces and is still read: its finish_reason and usage, whichever comes first', async (t) => {
  for (const [shape, big] of [
    ['finish_reason and usage after the content, LF', chunk(64 * 1024, { finish: 'length', usage: { prompt_tokens: 5, completion_tokens: 9 } })],
    ['finish_reason before the content, CRLF, no space after data:', chunk(64 * 1024, { finish: 'stop', first: true, crlf: true, space: false })],
  ] as const) {
    const r = new StreamRelay(workerConfig());
    const input = chunk(3) + big;
    const out = relayAll(r, reads(Buffer.from(input), 8192));
    t.equal(out.map(([s]) => s).join(''), input, `${shape}: the bytes as they came`);
    t.ok(out.length >= 8, `${shape}: in ${out.length} pieces, not held whole`);
    t.same(out.map(([, mid]) => mid), out.map((_, i) => i > 0 && i < out.length - 1), `${shape}: the small event whole, then each piece but the last ends inside the large one`);
    t.equal(r.cleanEndCode(), null, `${shape}: an upstream that closes now ends the stream complete (its finish_reason was read)`);
    t.equal(r.events, 2, `${shape}: one event each`);
    if (shape.startsWith('finish_reason and usage')) t.same(r.stats().usage, { promptTokens: 5, completionTokens: 9 }, 'its usage was read');
  }
  const plain = new StreamRelay(workerConfig());
  relayAll(plain, reads(Buffer.from(chunk(64 * 1024)), 8192));
  t.equal(plain.cleanEndCode(), 'upstream_truncated', 'without a finish_reason a closed upstream is still a truncated stream');
});

t.test('relay: a key cut by a read boundary is found; an error ends the stream after the event; a malformed one is counted', async (t) => {
  const big = chunk(30_000, { finish: 'stop' });
  const at = big.indexOf('"finish_reason"') + 7;
  for (const cut of [at - 8, at, at + 9]) {
    const r = new StreamRelay(workerConfig());
    relayAll(r, [Buffer.from(big.slice(0, cut)), Buffer.from(big.slice(cut))]);
    t.equal(r.cleanEndCode(), null, `cut ${cut - at} bytes from the key's middle: found`);
  }
  const err = new StreamRelay(workerConfig());
  const out = relayAll(err, reads(Buffer.from(chunk(30_000, { error: { message: 'model overloaded', code: 503 } }) + chunk(1)), 8192));
  t.same(err.end, { code: 'upstream_error_event', message: 'Upstream error: model overloaded' }, 'the error ends the stream, with its message');
  t.notOk(out.at(-1)![1], 'after the whole event (its bytes had gone on already)');
  t.notMatch(out.map(([s]) => s).join('').slice(-100), /"content":"x"/, 'nothing after it');
  const bad = new StreamRelay(workerConfig());
  relayAll(bad, reads(Buffer.from(`data: {"a":"${'y'.repeat(30_000)}"\n\n`), 8192));
  t.equal(bad.stats().malformed, 1, 'data that does not end as an object ends is counted malformed');
});

t.test('relay: with the think transform every event is read whole, so nothing goes in pieces', async (t) => {
  const r = new StreamRelay(workerConfig({ reasoningFormat: 'think' }));
  const out = relayAll(r, reads(Buffer.from(chunk(40_000)), 8192));
  t.equal(out.length, 1, 'one output: the whole event');
  t.notOk(out[0]![1]);
});

t.test('Outflow: a chunk that ends inside an event keeps that mark, sent at once, split by the credit, or waiting', async (t) => {
  const sent: Array<[string, boolean]> = [];
  const o = new Outflow(10, (c, cut) => sent.push([Buffer.from(c).toString(), cut]));
  t.ok(o.write(Buffer.from('abc'), true));
  t.notOk(o.write(Buffer.from('defghijk'), false));
  t.notOk(o.write(Buffer.from('lmn'), true), 'waits behind the rest');
  t.same(sent, [['abc', true], ['defghij', true]]);
  o.grant(10);
  t.same(sent.slice(2), [['k', false], ['lmn', true]], 'each piece ends as it was marked');
  o.write(Buffer.from('o'.repeat(20)), true);
  o.drain();
  t.same(sent.slice(-2), [['o'.repeat(6), true], ['o'.repeat(14), true]], 'what the credit allowed, then the rest drained, with its mark');
});

t.test('a stream whose client stopped reading holds at most PASS_BYTES and one read of a 64 KB event beyond its credit', async (t) => {
  // the exchange's path: reads into the relay, its output into the Outflow; the socket stops reading (boundReads)
  // once the Outflow says the credit is used up, and the client never returns any
  for (const [what, input] of [
    ['one 64 KB event after another', Buffer.from(chunk(64 * 1024).repeat(4))],
    ['a 200 KB event', Buffer.from(chunk(200 * 1024, { finish: 'stop' }))],
  ] as const) {
    const r = new StreamRelay(workerConfig());
    const o = new Outflow(BUDGET, () => undefined);
    let read = 0;
    for (const x of reads(input, 8192)) {
      read += x.length;
      const out = r.push(x);
      if (out !== null && !o.write(out, r.midEvent)) break;
    }
    const held = r.held + o.pending;
    t.ok(read < input.length, `${what}: the upstream paused after ${read} of ${input.length} bytes`);
    t.ok(held <= PASS_BYTES + 8192, `${what}: ${held} bytes held beyond the credit (bound: ${PASS_BYTES} + one read; the whole event before)`);
  }
});

/** The data value of one SSE event's text (its `data:` lines joined). */
const dataOf = (event: string): string => event.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(l[5] === ' ' ? 6 : 5)).join('\n');

t.test('relay: a stream cut inside an event going on in pieces ends that event as valid JSON', async (t) => {
  const shapes = [
    chunk(30_000, { finish: 'stop', usage: { prompt_tokens: 1, completion_tokens: 2 } }),
    `data:{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"${'{\\"a\\":\\"é\\\\n\\u00e9\\"}'.repeat(2000)}"}}]},"finish_reason":null}],"n":-1.5e3,"ok":true,"none":null}\r\n\r\n`,
  ];
  for (const [k, text] of shapes.entries()) {
    const b = Buffer.from(text);
    let bad = 0;
    let cuts = 0;
    // every cut from where the pieces begin to the event's end, in steps that land on every kind of byte
    for (let cut = PASS_BYTES + 1; cut < b.length - 2; cut += cut < PASS_BYTES + 200 ? 1 : 97) {
      const r = new StreamRelay(workerConfig());
      let sent = '';
      for (const x of reads(b.subarray(0, cut), 4096)) {
        const o = r.push(x);
        if (o !== null) sent += Buffer.from(o).toString('latin1');
      }
      if (!r.midEvent) continue; // (the cut fell before the pieces began)
      cuts++;
      const ended = sent + Buffer.from(r.finishText()).toString('latin1');
      try {
        JSON.parse(Buffer.from(dataOf(ended), 'latin1').toString('utf8'));
      } catch {
        if (bad++ < 3) t.fail(`shape ${k}, cut at ${cut}: ${JSON.stringify(ended.slice(-60))}`);
      }
      if (!/(\r\n|\r|\n){2}$/.test(ended)) bad++;
    }
    t.ok(cuts > 100, `shape ${k}: ${cuts} cuts tried`);
    t.equal(bad, 0, `shape ${k}: each cut event ends as valid JSON and a blank line`);
  }
});

t.test('relay: a last event that lacks its blank line (the upstream closed) is ended before the stream ends', async (t) => {
  const r = new StreamRelay(workerConfig());
  const last = 'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}';
  const out = [r.push(Buffer.from(chunk(2) + last)), r.flush()].map((o) => (o === null ? '' : Buffer.from(o).toString())).join('');
  t.equal(out, `${chunk(2)}${last}\n\n`, 'its blank line added: what follows is an event of its own');
  t.equal(r.cleanEndCode(), null);
  const done = new StreamRelay(workerConfig());
  done.push(Buffer.from(chunk(2)));
  done.push(Buffer.from('data: [DONE]'));
  t.equal(done.flush(), null, 'a [DONE] that lacks its blank line adds nothing');
  const big = new StreamRelay(workerConfig());
  const text = chunk(30_000, { finish: 'stop' }).trimEnd();
  const pieces = reads(Buffer.from(text), 8192).map((x) => big.push(x)).filter((o) => o !== null);
  t.ok(pieces.length >= 2, 'in pieces');
  t.equal(Buffer.from(big.flush()!).toString(), '\n\n', 'an event going on in pieces gets its blank line too (its JSON was whole)');
  t.notOk(big.midEvent);
  t.equal(big.cleanEndCode(), null, 'its finish_reason read');
});
