// The relay's byte path (unit): events forwarded as the same bytes, read only when they carry something; credit pieces.
import t from 'tap';
import fc from 'fast-check';
import { KEY_VALUE, Peek } from '../workers/peek.js';
import { StreamRelay } from '../workers/relay.js';
import { Outflow } from '../workers/outflow.js';
import { bytesAllocated } from './helpers/alloc-spy.js';
import { workerConfig } from './helpers/fakes.js';

const peek = (value: string): string => {
  const b = Buffer.from(`xx${value}yy`);
  return new Peek().classify(b, 2, b.length - 2);
};

t.test('Peek: chunks with nothing to read are forwarded unparsed; finish, usage and error are read', async (t) => {
  t.equal(peek('{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}'), 'plain');
  t.equal(peek('{"choices":[{"delta":{},"finish_reason":"stop"}]}'), 'read', 'a finish_reason');
  t.equal(peek('{"choices":[{"delta":{},"finish_reason" : "length"}]}'), 'read', 'spaces around the colon');
  t.equal(peek('{"choices":[{"delta":{},"finish_reason":\t\r\n"length"}]}'), 'read', "JSON's other whitespace");
  t.equal(peek('{"choices":[],"usage" :\n{"prompt_tokens":1}}'), 'read', 'a usage object after a newline');
  t.equal(peek('{"error": "overloaded"}'), 'read', 'an error that is a string');
  t.equal(peek('{"error" : null ,"choices":[{"finish_reason":null}]}'), 'plain', 'a null error, spaced');
  t.equal(peek('{"choices":[{"finish_reason":null},{"finish_reason":"stop"}]}'), 'read', 'the second choice finishing');
  t.equal(peek('{"choices":[],"usage":{"prompt_tokens":1}}'), 'read', 'a usage object');
  t.equal(peek('{"error":{"message":"x"}}'), 'read', 'an error');
  t.equal(peek('{"error":null,"choices":[]}'), 'plain', 'a null error');
  t.equal(peek('{"choices":[{"delta":{"content":"say \\"finish_reason\\":\\"stop\\""}}]}'), 'plain', 'the key quoted inside content is not a key');
  t.equal(peek('{"choices":[{"delta":{"content":"\\"usage\\": {\\"error\\": 1}"},"finish_reason":null}]}'), 'plain', 'usage and error quoted inside content are not keys');
  t.equal(peek('{"choices":[{"delta":{"content":"x\\\\"},"finish_reason":"stop"}]}'), 'read', 'a key after a string that ends in an escaped backslash');
  t.equal(peek('{"choices":[{"delta":{},"finish_reason":null,"stop_reason":null}]}'), 'plain', "vLLM's null stop_reason");
  t.equal(peek('{"choices":[{"delta":{},"finish_reason":null,"stop_reason":"eos"}]}'), 'plain', "a stop_reason string is not a finish_reason");
  t.equal(peek('{"stop_reason":"eos","choices":[{"finish_reason":"stop"}]}'), 'read', 'a finish_reason after a key that only ends like one');
  t.equal(peek('{"my_error":"x","prompt_usage":{"a":1},"choices":[]}'), 'plain', 'keys that end in error or usage are not those keys');
  t.equal(peek('{"_reason":"x","choices":[]}'), 'plain', 'the end of the key alone, at the start of the object');
  t.equal(peek('[DONE]'), 'done');
  t.equal(peek('  '), 'ping');
  t.equal(peek(': ping'), 'ping', 'DeepInfra’s data: : ping');
  t.equal(peek('{"not valid json'), 'malformed');
  t.equal(peek('[1,2]'), 'malformed', 'not an object');
});

t.test('Peek property: the search finds what one anchored match at every quote finds', async (t) => {
  // the reference: the keys as KEY_VALUE reads them, tried at every quote not after a backslash
  const reference = (text: string): string => {
    for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) {
      if (text[i - 1] !== '\\' && KEY_VALUE.test(text.slice(i))) return 'read';
    }
    return 'plain';
  };
  const key = fc.constantFrom('finish_reason', 'stop_reason', 'usage', 'prompt_usage', 'error', 'my_error', '_reason', 'content', 'finish');
  const value = fc.constantFrom(null, 'stop', { prompt_tokens: 1 }, 0, 'say "finish_reason":"x"', 'a\\', ['usage', { error: null }]);
  const object = fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value, { maxKeys: 3 })), { minKeys: 1, maxKeys: 5 });
  fc.assert(
    fc.property(object, fc.constantFrom(undefined, 1, '\t'), (o, indent) => {
      const text = JSON.stringify(o, null, indent);
      const got = peek(text);
      if (got !== reference(text)) throw new Error(`${got} for ${text}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('the same answer for every object tried');
});

t.test('Peek: a key search passes over a read once, however many events it holds', async (t) => {
  const events = Array.from({ length: 50 }, (_, i) => `{"i":${i},"finish_reason":null}`);
  events.push('{"i":50,"finish_reason":"stop"}');
  const b = Buffer.from(events.join('\n'));
  const p = new Peek();
  let at = 0;
  const kinds: string[] = [];
  for (const e of events) {
    kinds.push(p.classify(b, at, at + e.length));
    at += e.length + 1;
  }
  t.same(kinds.slice(-2), ['plain', 'read'], 'the finishing event is found; the ones before stay plain');
});

t.test('relay: the bytes go out as they came, contiguous events as one view; pings and malformed dropped', async (t) => {
  const r = new StreamRelay(workerConfig());
  const a = 'data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}\n\n';
  const b = 'data:{"choices":[{"delta":{"content":"b"},"finish_reason":null}]}\n\n';
  const read = Buffer.from(a + b + ': ping\n\n' + 'data: {"not json\n\n' + a);
  const out = r.push(read);
  t.equal(Buffer.from(out!).toString(), a + b + a, 'only the chunks, unchanged');
  t.equal(r.stats().malformed, 1);
  t.equal(r.events, 3);
  const done = r.push(Buffer.from('data: {"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\ndata: [DONE]\n\ndata: {"late":1}\n\n'));
  t.same(r.end, { code: null }, '[DONE] ends the stream cleanly');
  t.notMatch(Buffer.from(done!).toString(), /DONE|late/, '[DONE] and what follows it are not forwarded');
  t.same(r.stats().usage, { promptTokens: 3, completionTokens: 4 });
});

t.test('relay: an event split across reads arrives whole; the first view points into the read (no copy)', async (t) => {
  const r = new StreamRelay(workerConfig());
  const ev = 'data: {"choices":[{"delta":{"content":"é😀"},"finish_reason":null}]}\n\n';
  const all = Buffer.from(ev + ev);
  const cut = ev.length + 10;
  const first = r.push(all.subarray(0, cut));
  t.equal(first?.buffer, all.buffer, 'a whole event inside the read is a view of it');
  const second = r.push(all.subarray(cut));
  t.equal(Buffer.from(second!).toString(), ev, 'the split one arrives whole');
  const whole = Buffer.from(ev + ev);
  t.equal(r.push(whole), whole, 'a read of whole events, all forwarded, goes on as the read itself (no view)');
});

t.test('relay property: any split of any chunk stream gives the same bytes out', async (t) => {
  const chunk = fc.record({ content: fc.string({ unit: 'grapheme', maxLength: 20 }), finish: fc.constantFrom(null, 'stop') });
  fc.assert(
    fc.property(fc.array(chunk, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (chunks, cuts) => {
      const text = chunks.map((c) => `data: ${JSON.stringify({ choices: [{ delta: { content: c.content }, finish_reason: c.finish }] })}\n\n`).join('');
      const bytes = Buffer.from(text);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
      const r = new StreamRelay(workerConfig());
      const got: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, bytes.length]) {
        const o = r.push(bytes.subarray(prev, p));
        if (o) got.push(Buffer.from(o));
        prev = p;
      }
      if (Buffer.concat(got).toString() !== text) throw new Error('bytes differ');
    }),
    { numRuns: 500 },
  );
  t.pass('byte for byte');
});

t.test('relay: what becomes of an event does not depend on where the reads split it', async (t) => {
  // an object event that is not valid JSON is forwarded unparsed when it lies in one read (peek.ts: the price of not
  // parsing every event); split across reads it took the parsing path and was dropped as malformed
  const text = [
    'data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}\n\n',
    'data: {"choices":[{"delta":{"content":"b"},"finish_reason":null}],}\n\n',
    'data: {"choices":[{"delta":{"content":"c"},"finish_reason":"stop"}]}\n\n',
  ].join('');
  const bytes = Buffer.from(text);
  const run = (cut: number): { out: string; events: number; malformed: number; end: string | null } => {
    const r = new StreamRelay(workerConfig());
    const got: Buffer[] = [];
    for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
      const o = r.push(part);
      if (o) got.push(Buffer.from(o));
    }
    const s = r.stats();
    return { out: Buffer.concat(got).toString(), events: r.events, malformed: s.malformed, end: r.cleanEndCode() };
  };
  const whole = run(bytes.length);
  t.equal(whole.out, text, 'in one read every event goes out as it came');
  const differ = [];
  for (let cut = 1; cut < bytes.length; cut++) {
    const got = run(cut);
    if (JSON.stringify(got) !== JSON.stringify(whole)) differ.push(cut);
  }
  t.same(differ, [], `every split point gives the same bytes, counts and ending as one read (${bytes.length - 1} points)`);
});

t.test('Outflow: never more than the credit; a larger event goes in pieces, the rest waits here', async (t) => {
  const sent: Array<[string, boolean]> = [];
  const o = new Outflow(10, (c, cut) => sent.push([Buffer.from(c).toString(), cut]));
  t.ok(o.write(Buffer.from('abcd')), 'within credit: keep reading');
  t.notOk(o.write(Buffer.from('efghijklmnop')), 'over it: pause');
  t.same(sent, [['abcd', false], ['efghij', true]], 'the credit’s worth went, marked as cut inside an event');
  t.equal(o.pending, 6);
  t.notOk(o.grant(4), 'less than a lump back: stay paused');
  t.same(sent.at(-1), ['klmn', true]);
  t.ok(o.grant(10), 'the rest went and a lump is in hand: read again');
  t.same(sent.at(-1), ['op', false], 'the last piece ends the event');
  o.write(Buffer.from('x'.repeat(20)));
  o.drain();
  t.equal(sent.map(([c]) => c).join('').length, 4 + 12 + 20, 'at the end everything waiting goes out');
});

t.test('Outflow: a large event granted back a lump at a time is not copied again at every lump', async (t) => {
  const event = Buffer.alloc(64 * 1024, 'x');
  const sent: Uint8Array[] = [];
  const o = new Outflow(16 * 1024, (c) => sent.push(c));
  const bytes = bytesAllocated(() => {
    t.notOk(o.write(event), 'over the credit: pause');
    while (o.pending > 0) o.grant(8 * 1024);
  });
  t.ok(Buffer.concat(sent).equals(event), 'every byte, in order');
  t.ok(sent.every((c) => c.byteLength <= 16 * 1024), 'never more than the credit at once');
  // copying what remains at each lump: 48 + 40 + 32 + 24 + 16 + 8 KB, about three times the event
  t.ok(bytes <= event.length, `${bytes} bytes copied for a ${event.length}-byte event`);
  // a small rest of a larger buffer is still copied (a view would keep the whole buffer alive)
  const read = Buffer.alloc(8192, 'y');
  const o2 = new Outflow(8000, () => undefined);
  t.ok(bytesAllocated(() => o2.write(read)) >= 192, 'the 192-byte rest of an 8 KB read is a copy');
});
