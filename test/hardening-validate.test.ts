// Hardening (§8): the request validator under arbitrary input, and hostile bodies end to end (relayed byte for byte or a 4xx).
import t from 'tap';
import fc from 'fast-check';
import { validateBody } from '../workers/validate.js';
import { startStack, chat, idle, KEY } from './helpers/harness.js';
import { rawHttp, post } from './helpers/raw.js';

type Kind = 'chat' | 'completions' | 'embeddings';
const KINDS: readonly Kind[] = ['chat', 'completions', 'embeddings'];
const VALIDATION_CODES = new Set(['invalid_utf8', 'invalid_json', 'invalid_request']);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Runs the validator and checks the contract of its result: never a throw, ok (what it read) or a known 4xx code. */
function verdict(kind: Kind, body: Uint8Array): { ok: true; model: string; stream: boolean } | Exclude<ReturnType<typeof validateBody>, { ok: true }> {
  const v = validateBody(kind, body);
  if (v.ok) {
    if (typeof v.model !== 'string' || typeof v.stream !== 'boolean') throw new Error('ok without model/stream');
    return { ok: true, model: v.model, stream: v.stream };
  }
  if (!VALIDATION_CODES.has(v.code) || typeof v.message !== 'string') throw new Error(`unexpected verdict ${JSON.stringify(v)}`);
  return v;
}

const nested = (depth: number, inner = '0'): string => '['.repeat(depth) + inner + ']'.repeat(depth);
const nestedObj = (depth: number): string => '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);

void t.test('property: arbitrary JSON values never throw out of validateBody', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...KINDS), fc.jsonValue(), (kind, value) => {
      verdict(kind, enc(JSON.stringify(value)));
    }),
    { numRuns: 2000 },
  );
  // values shaped like requests (the fields the schema reads, of any type) reach deeper into the schema
  const field = fc.oneof(fc.jsonValue(), fc.string(), fc.boolean(), fc.array(fc.jsonValue()));
  fc.assert(
    fc.property(
      fc.constantFrom(...KINDS),
      fc.record({ model: field, messages: field, prompt: field, input: field, stream: field, stream_options: field }, { requiredKeys: [] }),
      fc.dictionary(fc.string(), fc.jsonValue()),
      (kind, known, extra) => {
        verdict(kind, enc(JSON.stringify({ ...extra, ...known })));
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2 × 2000 runs without a throw');
});

void t.test('property: arbitrary bytes never throw; invalid UTF-8 is invalid_utf8', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...KINDS), fc.uint8Array({ maxLength: 512 }), (kind, bytes) => {
      const v = verdict(kind, bytes);
      let utf8 = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        utf8 = false;
      }
      if (!utf8 && (v.ok || v.code !== 'invalid_utf8')) throw new Error('invalid UTF-8 not reported as such');
    }),
    { numRuns: 3000 },
  );
  // a valid request with one byte replaced anywhere: a verdict, never a throw
  const valid = enc(JSON.stringify(chat('m', { stream: true })));
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
      const b = Uint8Array.from(valid);
      b[at] = byte;
      verdict('chat', b);
    }),
    { numRuns: 3000 },
  );
  t.pass('arbitrary and mutated bytes');
});

void t.test('property: any string content (lone surrogates included) is accepted with model and stream read', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }), fc.boolean(), (content, model, stream) => {
      // JSON.stringify escapes lone surrogates (\udXXX), so the text is valid UTF-8 and valid JSON
      const body = JSON.stringify({ model, stream, messages: [{ role: 'user', content }] });
      const v = verdict('chat', enc(body));
      if (!v.ok || v.model !== model || v.stream !== stream) throw new Error(`rejected or misread: ${JSON.stringify(v)}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('strings of any code units');
});

void t.test('deep nesting (100k levels): no throw; accepted where the schema does not look, 400 where it does', async (t) => {
  const depth = 100_000;
  const deepContent = `{"model":"m","messages":[{"role":"user","content":${nested(depth)}}]}`;
  t.same(verdict('chat', enc(deepContent)), { ok: true, model: 'm', stream: false }, 'nested arrays inside a message: accepted');
  const deepExtra = `{"model":"m","messages":[{"role":"user","content":"x"}],"future_field":${nestedObj(depth)}}`;
  t.same(verdict('chat', enc(deepExtra)), { ok: true, model: 'm', stream: false }, 'nested objects in an unknown field: accepted');
  t.same(verdict('completions', enc(`{"model":"m","prompt":[${nested(depth)}]}`)), { ok: true, model: 'm', stream: false });
  t.same(verdict('embeddings', enc(`{"model":"m","input":${nested(depth)}}`)), { ok: true, model: 'm', stream: false });
  const top = verdict('chat', enc(nested(depth)));
  t.match(top, { ok: false, code: 'invalid_request' }, 'a nested array as the body: 400');
  const asModel = verdict('chat', enc(`{"model":${nested(depth)},"messages":[{"role":"user","content":"x"}]}`));
  t.match(asModel, { ok: false, code: 'invalid_request', param: 'model' }, 'nested where a string belongs: 400 naming the field');
  const asStream = verdict('chat', enc(`{"model":"m","stream":${nestedObj(depth)},"messages":[{"role":"user","content":"x"}]}`));
  t.match(asStream, { ok: false, code: 'invalid_request', param: 'stream' });
  const unclosed = verdict('chat', enc('['.repeat(depth)));
  t.match(unclosed, { ok: false, code: 'invalid_json' }, 'unbalanced nesting: invalid JSON');
});

void t.test('lone surrogates as JSON escapes are valid; as raw bytes they are invalid UTF-8', async (t) => {
  const escaped = '{"model":"m","messages":[{"role":"user","content":"a\\ud800b\\udfffc\\udc00\\ud800"}]}';
  t.same(verdict('chat', enc(escaped)), { ok: true, model: 'm', stream: false });
  t.same(verdict('chat', enc('{"model":"\\ud83d","messages":[{"role":"user"}]}')), { ok: true, model: '\ud83d', stream: false }, 'even in the model name');
  const prefix = Buffer.from('{"model":"m","messages":[{"role":"user","content":"');
  const suffix = Buffer.from('"}]}');
  const cases: Array<[string, number[]]> = [
    ['encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['overlong slash', [0xc0, 0xaf]],
    ['overlong NUL', [0xc0, 0x80]],
    ['lone continuation', [0x80]],
    ['truncated sequence', [0xe2, 0x82]],
    ['0xFF', [0xff]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [name, bytes] of cases) {
    const v = verdict('chat', Buffer.concat([prefix, Buffer.from(bytes), suffix]));
    t.match(v, { ok: false, code: 'invalid_utf8' }, name);
  }
});

void t.test('over HTTP: deep nesting and lone surrogates reach the upstream byte for byte; invalid UTF-8 never does', async (t) => {
  const s = await startStack(t);
  const port = s.service.port;
  const send = async (body: Buffer | string): Promise<{ status: number; json: { error?: { code: string; param: string | null } } }> => {
    const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const head = post('/v1/chat/completions', '', KEY).replace('Content-Length: 0', `Content-Length: ${b.length}`);
    const r = await rawHttp(port, Buffer.concat([Buffer.from(head, 'latin1'), b]));
    return { status: r.status, json: JSON.parse(r.body) as { error?: { code: string; param: string | null } } };
  };
  const lastUpstreamBody = (): Buffer | undefined => s.sim.requests.at(-1)?.body;

  const deep = Buffer.from(`{"model":"sim/echo","messages":[{"role":"user","content":${nested(100_000)}}],"x":${nestedObj(100_000)}}`);
  const r1 = await send(deep);
  t.equal(r1.status, 200, 'deeply nested body accepted');
  t.ok(lastUpstreamBody()?.equals(deep), 'relayed unchanged, byte for byte');

  const surrogates = Buffer.from('{"model":"sim/echo","messages":[{"role":"user","content":"x\\ud800y\\udfff"}],"user":"\\udbff"}');
  const r2 = await send(surrogates);
  t.equal(r2.status, 200, 'lone surrogate escapes accepted');
  t.ok(lastUpstreamBody()?.equals(surrogates), 'escapes relayed as sent (not re-encoded)');

  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(chat('sim/echo')))]);
  const sent = s.sim.requests.length;
  await send(bom); // the proxy's decoder skips a BOM; what the upstream makes of it is the upstream's answer
  t.equal(s.sim.requests.length, sent + 1, 'a body with a UTF-8 BOM is not refused by the proxy');
  t.ok(lastUpstreamBody()?.equals(bom), 'and is relayed as sent');

  const before = s.sim.requests.length;
  for (const bytes of [[0xed, 0xa0, 0x80], [0xc0, 0x80], [0xff, 0xfe]]) {
    const bad = Buffer.concat([Buffer.from('{"model":"sim/echo","messages":[{"role":"user","content":"'), Buffer.from(bytes), Buffer.from('"}]}')]);
    const r = await send(bad);
    t.equal(r.status, 400, `invalid UTF-8 ${bytes.map((b) => b.toString(16)).join(' ')}: 400`);
    t.equal(r.json.error?.code, 'invalid_utf8');
  }
  const topDeep = await send(nested(100_000));
  t.equal(topDeep.status, 400, 'a nested array as the whole body: 400');
  const modelDeep = await send(`{"model":${nested(100_000)},"messages":[{"role":"user","content":"x"}]}`);
  t.equal(modelDeep.status, 400);
  t.equal(modelDeep.json.error?.param, 'model', 'the 400 names the field');
  t.equal(s.sim.requests.length, before, 'no invalid body reached the upstream');
  await idle(s.service);
  t.equal(s.service.state.admission.inFlight, 0, 'every slot freed');
});
