// Large events through the whole service, read by the openai SDK, inline and with a pool: a 64 KB chunk (which goes
// on in pieces) arrives whole; a last event that lacks its blank line before the upstream closes is its own event;
// an upstream cut inside a 64 KB chunk gives the SDK a cut but valid chunk and then the error event (an APIError).
import t from 'tap';
import { APIError } from 'openai';
import { startStack } from './helpers/harness.js';
import { SSE_HEADERS, chatChunk, sseEvent, startScriptedUpstream, type Piece } from './helpers/scripted-upstream.js';

const BIG = 'x'.repeat(64 * 1024);

/** An event written in 4 KB writes. */
const inWrites = (event: string): Piece[] => Array.from({ length: Math.ceil(event.length / 4096) }, (_, i) => event.slice(i * 4096, (i + 1) * 4096));

async function read(s: Awaited<ReturnType<typeof startStack>>, model: string): Promise<{ text: string; finish: string | null; error: unknown }> {
  const st = await s.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], stream: true });
  let text = '';
  let finish: string | null = null;
  try {
    for await (const c of st) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
  } catch (e) {
    return { text, finish, error: e };
  }
  return { text, finish, error: null };
}

for (const pool of ['0', '1'])
  t.test(`POOL_SIZE=${pool}: 64 KB chunks through the service, whole, cut, and a last event without its blank line`, async (t) => {
    const up = await startScriptedUpstream(t, (req) => {
      const m = req.model ?? '';
      const big = inWrites(sseEvent(chatChunk(m, BIG)));
      if (m === 'acme/whole') return { status: 200, headers: SSE_HEADERS, body: [...big, ...big, sseEvent(chatChunk(m, null, 'stop')), sseEvent('[DONE]')] };
      // the last event lacks its blank line: the upstream closes after it (no [DONE])
      if (m === 'acme/noblank') return { status: 200, headers: SSE_HEADERS, body: [...big, sseEvent(chatChunk(m, 'end', 'stop')).trimEnd()] };
      // the upstream resets 40 KB into the second chunk
      return { status: 200, headers: SSE_HEADERS, body: [sseEvent(chatChunk(m, 'a')), ...big.slice(0, 10)], end: 'reset' };
    });
    const s = await startStack(t, { POOL_SIZE: pool }, { mirrors: up.url });
    const whole = await read(s, 'acme/whole');
    t.same([whole.text.length, whole.text === BIG + BIG, whole.finish, whole.error], [2 * BIG.length, true, 'stop', null], 'two 64 KB chunks, whole, then the finish and [DONE]');
    const noblank = await read(s, 'acme/noblank');
    t.same([noblank.text === `${BIG}end`, noblank.finish, noblank.error], [true, 'stop', null], 'the last event is read as an event: a complete stream (before: its bytes ran into [DONE] and the SDK could not parse them)');
    const cut = await read(s, 'acme/cut');
    t.ok(cut.error instanceof APIError, `the SDK raises the error event, not a parse error of a cut chunk (${String(cut.error)})`);
    t.equal((cut.error as APIError).code, 'upstream_reset');
    t.ok(cut.text.length > 16_384 + 1 && `a${BIG}`.startsWith(cut.text), `what came before the cut was delivered as it came (${cut.text.length} characters)`);
  });
