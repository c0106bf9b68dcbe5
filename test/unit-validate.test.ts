// The hand-written fast path of request validation accepts exactly what the zod schemas accept (property test).
import t from 'tap';
import fc from 'fast-check';
import { validateBody } from '../workers/validate.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const arbish = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }));
const message = fc.oneof(fc.record({ role: fc.oneof(fc.string({ maxLength: 5 }), arbish), content: fc.string() }, { requiredKeys: [] }), arbish);
const body = fc.record({
  model: fc.oneof(fc.string({ maxLength: 300 }), arbish),
  messages: fc.oneof(fc.array(message, { maxLength: 3 }), arbish),
  prompt: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), arbish),
  input: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), arbish),
  stream: fc.oneof(fc.boolean(), arbish),
  stream_options: fc.oneof(fc.record({ include_usage: fc.oneof(fc.boolean(), arbish) }, { requiredKeys: [] }), arbish),
}, { requiredKeys: [] });

t.test('fast path and zod agree on every body: valid ones read the same model and stream', async (t) => {
  // validateBody takes the fast path first; a body it passes would also have to pass zod (checked here by
  // forcing zod through a body the fast path cannot judge: the same fields plus nothing), and vice versa
  const { z } = await import('zod');
  const model = z.string().min(1).max(256);
  const so = z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional();
  const schemas = {
    chat: z.object({ model, messages: z.array(z.object({ role: z.string().min(1) }).passthrough()).min(1), stream: z.boolean().optional(), stream_options: so }).passthrough(),
    completions: z.object({ model, prompt: z.union([z.string(), z.array(z.unknown()).min(1)]), stream: z.boolean().optional(), stream_options: so }).passthrough(),
    embeddings: z.object({ model, input: z.union([z.string(), z.array(z.unknown()).min(1)]) }).passthrough(),
  } as const;
  fc.assert(
    fc.property(fc.constantFrom('chat', 'completions', 'embeddings') as fc.Arbitrary<'chat' | 'completions' | 'embeddings'>, body, (kind, b) => {
      const got = validateBody(kind, enc(b));
      const want = schemas[kind].safeParse(b).success;
      if (got.ok !== want) throw new Error(`${kind}: validateBody ${got.ok} but the schema ${want} for ${JSON.stringify(b)}`);
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 bodies');
});
