// The pooled channel on the wire: a worker's batch goes out as one transferred byte buffer for every stream's data plus the few other messages, not one cloned object per event.
import type { MessagePort } from 'node:worker_threads';
import type { DataMsg, FromWorker, Port, ToWorker } from './messages.js';

/** A batch as posted: all data bytes, then per message in order `0` (the next of `c`) or `1, id, length, cut`. */
interface Packed {
  readonly d: Uint8Array;
  readonly h: Int32Array;
  readonly c: FromWorker[];
}

export function pack(batch: FromWorker[]): { packed: Packed | FromWorker[]; transfer: ArrayBuffer[] } {
  let bytes = 0;
  let data = 0;
  let replies = 0;
  for (const m of batch) {
    if (m.t === 'data') {
      bytes += m.chunk.byteLength;
      data++;
    } else if (m.t === 'reply') replies++;
  }
  // (a batch of heads and ends, the common data-less one, goes as it is: no copy of the array)
  if (data === 0) return { packed: replies > 0 ? batch.map(exactReply) : batch, transfer: [] };
  const d = new Uint8Array(bytes);
  const h = new Int32Array(batch.length + 3 * data);
  const c: FromWorker[] = [];
  let at = 0;
  let k = 0;
  for (const m of batch) {
    if (m.t !== 'data') {
      h[k++] = 0;
      c.push(exactReply(m));
      continue;
    }
    d.set(m.chunk, at);
    at += m.chunk.byteLength;
    h[k++] = 1;
    h[k++] = m.id;
    h[k++] = m.chunk.byteLength;
    h[k++] = m.cut ? 1 : 0;
  }
  return { packed: { d, h, c }, transfer: [d.buffer as ArrayBuffer, h.buffer as ArrayBuffer] };
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
  const { d, h, c } = posted;
  const out: FromWorker[] = [];
  let at = 0;
  let next = 0;
  for (let k = 0; k < h.length; ) {
    if (h[k++] === 0) {
      out.push(c[next++]!);
      continue;
    }
    const id = h[k++]!;
    const n = h[k++]!;
    const cut = h[k++] === 1;
    const chunk = d.subarray(at, at + n);
    at += n;
    const msg: DataMsg = cut ? { t: 'data', id, chunk, cut } : { t: 'data', id, chunk };
    out.push(msg);
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
    onBatch: (handler) => port.on('message', handler),
    close: () => port.close(),
  };
}

/** The main thread's end of a pooled channel. */
export function mainPort(port: MessagePort): Port<FromWorker, ToWorker> {
  return {
    postMessage: (batch) => port.postMessage(batch),
    onBatch: (handler) => port.on('message', (posted: Packed | FromWorker[]) => handler(unpack(posted))),
    close: () => port.close(),
  };
}
