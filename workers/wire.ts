// The pooled channel on the wire: a worker's batch goes out as one transferred byte buffer for every stream's data, its heads, ends and plain replies as numbers, and the few other messages as cloned objects.
import type { MessagePort } from 'node:worker_threads';
import { dataLength, type DataMsg, type EndMsg, type FromWorker, type HeadMsg, type Port, type ReplyMsg, type ToWorker } from './messages.js';
import { OBJECT, isInt32, measureBatch, packToWorker, unpackToWorker, type PackedBatch, type PackedToWorker } from './wire-open.js';

/**
 * A batch as posted: all data bytes in `d`, the models of the heads in `s`, and per message in order in `h`:
 * `0` (the next of `c`, cloned as it is), `1, id, length, cut` (data), `2, id, mirror, attempts, stream, model`
 * (a plain head), `3, id, done, events, malformed, usage, prompt tokens, completion tokens` (a plain end) or
 * `4, id, status, body length, mirror, attempts, stream, model, usage, prompt tokens, completion tokens, headers,
 * then a name and a value per header` (a plain reply; its body in `d`, its strings in `s`). These travel as
 * numbers, not cloned objects: the main thread, which cannot spread over cores, no longer rebuilds their objects
 * key by key.
 */
type Packed = PackedBatch<FromWorker>;

const DATA = 1;
const HEAD = 2;
const END = 3;
const REPLY = 4;

/** A chat head with only the usual meta: numbers and the model. */
function plainHead(m: HeadMsg): boolean {
  const x = m.meta;
  return m.framing === undefined && m.contentType === undefined && x.upstreamModel === undefined && x.prompt === undefined
    && x.params === undefined && isInt32(x.mirror) && isInt32(x.attempts);
}

/** A clean end (no error, no logged content) whose counts fit the slots. */
function plainEnd(m: EndMsg): boolean {
  const st = m.stats;
  const u = st.usage;
  return m.code === undefined && m.message === undefined && st.content === undefined && isInt32(st.events) && isInt32(st.malformed)
    && (u === null || (isInt32(u.promptTokens) && isInt32(u.completionTokens)));
}

/** A reply of upstream bytes with only the usual meta, nothing logged, counts that fit the slots. */
function plainReply(m: ReplyMsg): boolean {
  const x = m.meta;
  const u = m.usage;
  return typeof m.body !== 'string' && m.content === undefined && x.upstreamModel === undefined && x.prompt === undefined
    && x.params === undefined && isInt32(x.mirror) && isInt32(x.attempts) && isInt32(m.status)
    && (u === null || (isInt32(u.promptTokens) && isInt32(u.completionTokens)));
}

function slotsOf(m: FromWorker): number {
  switch (m.t) {
    case 'data':
      return 4;
    case 'head':
      return plainHead(m) ? 6 : 1;
    case 'end':
      return plainEnd(m) ? 8 : 1;
    case 'reply':
      return plainReply(m) ? 12 + 2 * Object.keys(m.headers).length : 1;
    default:
      return 1;
  }
}

/** The bytes a message that goes as numbers puts in the batch's buffer. */
function bytesOf(m: FromWorker): number {
  if (m.t === 'data') return dataLength(m.chunk, m.more);
  return m.t === 'reply' && typeof m.body !== 'string' ? m.body.byteLength : 0;
}

export function pack(batch: FromWorker[]): { packed: Packed | FromWorker[]; transfer: ArrayBuffer[] } {
  const { slots, bytes, numeric, asNumbers } = measureBatch(batch, slotsOf, bytesOf);
  // (a batch of other messages goes as it is: no copy of the array)
  if (numeric === 0) return { packed: batch.some((m) => m.t === 'reply') ? batch.map(exactReply) : batch, transfer: [] };
  const d = new Uint8Array(bytes);
  const h = new Int32Array(slots);
  const c: FromWorker[] = [];
  const s: string[] = [];
  let at = 0;
  let k = 0;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    if (asNumbers[i] === 0) {
      h[k++] = OBJECT;
      c.push(exactReply(m));
    } else if (m.t === 'data') {
      // a joined run (DATA_RUNS) goes as one chunk: its pieces side by side in the batch's buffer
      const start = at;
      d.set(m.chunk, at);
      at += m.chunk.byteLength;
      if (m.more !== undefined)
        for (const piece of m.more) {
          d.set(piece, at);
          at += piece.byteLength;
        }
      h[k++] = DATA;
      h[k++] = m.id;
      h[k++] = at - start;
      h[k++] = m.cut ? 1 : 0;
    } else if (m.t === 'head') {
      h[k++] = HEAD;
      h[k++] = m.id;
      h[k++] = m.meta.mirror;
      h[k++] = m.meta.attempts;
      h[k++] = m.meta.stream ? 1 : 0;
      h[k++] = s.push(m.meta.model) - 1;
    } else if (m.t === 'end') {
      const u = m.stats.usage;
      h[k++] = END;
      h[k++] = m.id;
      h[k++] = m.done ? 1 : 0;
      h[k++] = m.stats.events;
      h[k++] = m.stats.malformed;
      h[k++] = u === null ? 0 : 1;
      h[k++] = u === null ? 0 : u.promptTokens;
      h[k++] = u === null ? 0 : u.completionTokens;
    } else if (m.t === 'reply') {
      const u = m.usage;
      const body = m.body as Uint8Array; // (plainReply: never a string here)
      d.set(body, at);
      at += body.byteLength;
      h[k++] = REPLY;
      h[k++] = m.id;
      h[k++] = m.status;
      h[k++] = body.byteLength;
      h[k++] = m.meta.mirror;
      h[k++] = m.meta.attempts;
      h[k++] = m.meta.stream ? 1 : 0;
      h[k++] = s.push(m.meta.model) - 1;
      h[k++] = u === null ? 0 : 1;
      h[k++] = u === null ? 0 : u.promptTokens;
      h[k++] = u === null ? 0 : u.completionTokens;
      const count = k++;
      let n = 0;
      for (const name in m.headers) {
        h[k++] = s.push(name) - 1;
        h[k++] = s.push(m.headers[name]!) - 1;
        n++;
      }
      h[count] = n;
    }
  }
  return { packed: { d, h, c, s }, transfer: [d.buffer as ArrayBuffer, h.buffer as ArrayBuffer] };
}

/**
 * A reply whose body is a view of a larger buffer (a small socket read lies in Node's shared 8 KB pool) goes with
 * a copy of just its bytes: cloning the view would copy the whole buffer under it, other requests' bytes included.
 */
function exactReply(m: FromWorker): FromWorker {
  if (m.t !== 'reply' || typeof m.body === 'string' || m.body.byteLength === m.body.buffer.byteLength) return m;
  return { ...m, body: Uint8Array.prototype.slice.call(m.body) };
}

export function unpack(posted: Packed | FromWorker[]): FromWorker[] {
  if (Array.isArray(posted)) return posted;
  const { d, h, c, s } = posted;
  const out: FromWorker[] = [];
  let at = 0;
  let next = 0;
  for (let k = 0; k < h.length; ) {
    switch (h[k++]) {
      case DATA: {
        const id = h[k++]!;
        const n = h[k++]!;
        const cut = h[k++] === 1;
        const chunk = d.subarray(at, at + n);
        at += n;
        const msg: DataMsg = cut ? { t: 'data', id, chunk, cut } : { t: 'data', id, chunk };
        out.push(msg);
        break;
      }
      case HEAD: {
        const id = h[k++]!;
        const mirror = h[k++]!;
        const attempts = h[k++]!;
        const stream = h[k++] === 1;
        const model = s[h[k++]!]!;
        out.push({ t: 'head', id, meta: { mirror, attempts, model, stream } });
        break;
      }
      case END: {
        const id = h[k++]!;
        const done = h[k++] === 1;
        const events = h[k++]!;
        const malformed = h[k++]!;
        const hasUsage = h[k++] === 1;
        const promptTokens = h[k++]!;
        const completionTokens = h[k++]!;
        out.push({ t: 'end', id, done, stats: { events, malformed, usage: hasUsage ? { promptTokens, completionTokens } : null } });
        break;
      }
      case REPLY: {
        const id = h[k++]!;
        const status = h[k++]!;
        const n = h[k++]!;
        const mirror = h[k++]!;
        const attempts = h[k++]!;
        const stream = h[k++] === 1;
        const model = s[h[k++]!]!;
        const hasUsage = h[k++] === 1;
        const promptTokens = h[k++]!;
        const completionTokens = h[k++]!;
        const count = h[k++]!;
        const headers: Record<string, string> = {};
        for (let i = 0; i < count; i++) {
          const name = s[h[k++]!]!;
          headers[name] = s[h[k++]!]!;
        }
        const body = d.subarray(at, at + n);
        at += n;
        out.push({ t: 'reply', id, status, headers, body, meta: { mirror, attempts, model, stream }, usage: hasUsage ? { promptTokens, completionTokens } : null });
        break;
      }
      default:
        out.push(c[next++]!);
    }
  }
  return out;
}

/** The worker's end of a pooled channel. */
export function workerPort(port: MessagePort): Port<ToWorker, FromWorker> {
  return {
    postMessage(batch) {
      const { packed, transfer } = pack(batch);
      port.postMessage(packed, transfer);
    },
    onBatch: (handler) => port.on('message', (posted: PackedToWorker | ToWorker[]) => handler(unpackToWorker(posted))),
    close: () => port.close(),
  };
}

/** The main thread's end of a pooled channel. */
export function mainPort(port: MessagePort): Port<FromWorker, ToWorker> {
  return {
    postMessage(batch) {
      const { packed, transfer } = packToWorker(batch);
      port.postMessage(packed, transfer);
    },
    onBatch: (handler) => port.on('message', (posted: Packed | FromWorker[]) => handler(unpack(posted))),
    close: () => port.close(),
  };
}
