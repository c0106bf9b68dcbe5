// Playing an SSE stream: pacing, pings, malformed events and the mid-stream failure behaviours.
import type { Json } from './content.js';
import { errorBody } from './bodies.js';
import type { SimSpec } from './spec.js';
import type { Exchange, Writer } from './writer.js';

/** Behaviours that stop the stream after `after` events instead of finishing it. */
const FAILURES: ReadonlySet<string> = new Set(['reset', 'close', 'stall', 'errorevent']);

export const UPSTREAM_EXPLODED = errorBody('upstream exploded', 'server_error', 'sim_error');

/**
 * Writes `events` as `data:` lines per the spec's behaviour, then `[DONE]` and the end of the
 * response (or the behaviour's failure). Throws ClientGone if the client leaves.
 */
export async function playStream(w: Writer, x: Exchange, spec: SimSpec, events: Iterable<Json>): Promise<void> {
  const { behaviour, opts } = spec;
  const failing = FAILURES.has(behaviour);
  let k = 0;
  for (const ev of events) {
    if (failing && k >= opts.after) return fail(w, x, behaviour);
    if (k > 0) {
      await x.pause(opts.interval);
      if (behaviour === 'ping') {
        await w.comment('ping');
        await w.bytes(`data: : ping${w.sep}`);
      }
    }
    if (behaviour === 'malformed' && k === opts.after) await w.event('{"not valid json');
    await w.event(JSON.stringify(ev));
    k++;
  }
  if (failing) return fail(w, x, behaviour);
  if (behaviour !== 'nodone') await w.event('[DONE]');
  await w.end();
}

async function fail(w: Writer, x: Exchange, behaviour: string): Promise<void> {
  switch (behaviour) {
    case 'reset':
      await w.flushed();
      w.reset();
      return;
    case 'stall':
      await x.closed;
      return;
    case 'errorevent':
      await w.event(UPSTREAM_EXPLODED);
      await w.end();
      return;
    default: // close: a clean end, no finish_reason, no [DONE]
      await w.end();
  }
}
