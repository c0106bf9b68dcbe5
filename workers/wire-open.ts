// The main thread's batches on the pooled wire: opens, credit and aborts as numbers, the bodies in one transferred buffer.
import type { OpenMsg, RouteKind, ToWorker } from './messages.js';

/**
 * A batch as posted: the bodies of its opens in `d`, their strings in `s`, and per message in order in `h`:
 * `0` (the next of `c`, cloned as it is), `1, id, kind, body length, credit, first byte ms, idle ms, total ms,
 * request id, traceparent, content-type` (the last three index `s`, -1: none), `2, id, n` (credit) or `3, id`
 * (abort). The main thread, which cannot spread over cores, writes numbers instead of cloning objects key by key.
 */
export interface PackedBatch<M> {
  readonly d: Uint8Array;
  readonly h: Int32Array;
  readonly s: string[];
  readonly c: M[];
}
export type PackedToWorker = PackedBatch<ToWorker>;

/** The slot that says: the next message of `c`, cloned as it is (both directions). */
export const OBJECT = 0;
const OPEN = 1;
const CREDIT = 2;
const ABORT = 3;

/** The route kinds by number (a kind missing here travels as an object). */
const KINDS: readonly RouteKind[] = ['chat', 'completions', 'embeddings', 'models', 'images', 'speech', 'transcriptions', 'translations', 'responses'];

/** Fits an Int32Array slot exactly (no fraction, no NaN, no overflow). */
export const isInt32 = (n: number): boolean => (n | 0) === n;

function plainOpen(m: OpenMsg): boolean {
  const l = m.limits;
  return KINDS.includes(m.kind) && isInt32(m.credit) && isInt32(l.firstByteMs) && isInt32(l.idleMs) && isInt32(l.totalMs);
}

function slotsOf(m: ToWorker): number {
  switch (m.t) {
    case 'open':
      return plainOpen(m) ? 11 : 1;
    case 'credit':
      return isInt32(m.n) ? 3 : 1;
    case 'abort':
      return 2;
    default:
      return 1;
  }
}

/**
 * What packing a batch takes (both directions): Int32Array slots, bytes, how many messages go as numbers, and
 * which (1 at their index): decided once here, by `slotsOf`, and only read by the packing loop.
 */
export function measureBatch<T>(batch: readonly T[], slotsOf: (m: T) => number, bytesOf: (m: T) => number): { slots: number; bytes: number; numeric: number; asNumbers: Uint8Array } {
  let slots = 0;
  let bytes = 0;
  let numeric = 0;
  const asNumbers = new Uint8Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    const n = slotsOf(m);
    slots += n;
    if (n === 1) continue; // (an object)
    asNumbers[i] = 1;
    numeric++;
    bytes += bytesOf(m);
  }
  return { slots, bytes, numeric, asNumbers };
}

export function packToWorker(batch: ToWorker[]): { packed: PackedToWorker | ToWorker[]; transfer: ArrayBuffer[] } {
  const { slots, bytes, numeric, asNumbers } = measureBatch(batch, slotsOf, (m) => (m.t === 'open' ? m.body.byteLength : 0));
  if (numeric === 0) return { packed: batch, transfer: [] };
  const d = new Uint8Array(bytes);
  const h = new Int32Array(slots);
  const s: string[] = [];
  const c: ToWorker[] = [];
  const str = (v: string | null | undefined): number => (v === null || v === undefined ? -1 : s.push(v) - 1);
  let at = 0;
  let k = 0;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    if (asNumbers[i] === 0) {
      h[k++] = OBJECT;
      c.push(m);
    } else if (m.t === 'open') {
      d.set(m.body, at);
      at += m.body.byteLength;
      h[k++] = OPEN;
      h[k++] = m.id;
      h[k++] = KINDS.indexOf(m.kind);
      h[k++] = m.body.byteLength;
      h[k++] = m.credit;
      h[k++] = m.limits.firstByteMs;
      h[k++] = m.limits.idleMs;
      h[k++] = m.limits.totalMs;
      h[k++] = str(m.reqId);
      h[k++] = str(m.traceparent);
      h[k++] = str(m.contentType);
    } else if (m.t === 'credit') {
      h[k++] = CREDIT;
      h[k++] = m.id;
      h[k++] = m.n;
    } else if (m.t === 'abort') {
      h[k++] = ABORT;
      h[k++] = m.id;
    }
  }
  return { packed: { d, h, s, c }, transfer: [d.buffer as ArrayBuffer, h.buffer as ArrayBuffer] };
}

/** The worker's side: the messages in order; each body a view of the batch's one buffer (kept as long as its request). */
export function unpackToWorker(posted: PackedToWorker | ToWorker[]): ToWorker[] {
  if (Array.isArray(posted)) return posted;
  const { d, h, s, c } = posted;
  const out: ToWorker[] = [];
  let at = 0;
  let next = 0;
  for (let k = 0; k < h.length; ) {
    switch (h[k++]) {
      case OPEN: {
        const id = h[k++]!;
        const kind = KINDS[h[k++]!]!;
        const n = h[k++]!;
        const credit = h[k++]!;
        const firstByteMs = h[k++]!;
        const idleMs = h[k++]!;
        const totalMs = h[k++]!;
        const reqId = s[h[k++]!]!;
        const tp = h[k++]!;
        const ct = h[k++]!;
        const body = d.subarray(at, at + n);
        at += n;
        const limits = { firstByteMs, idleMs, totalMs };
        const traceparent = tp < 0 ? null : s[tp]!;
        out.push(ct < 0 ? { t: 'open', id, kind, body, reqId, traceparent, credit, limits } : { t: 'open', id, kind, body, contentType: s[ct]!, reqId, traceparent, credit, limits });
        break;
      }
      case CREDIT: {
        const id = h[k++]!;
        out.push({ t: 'credit', id, n: h[k++]! });
        break;
      }
      case ABORT:
        out.push({ t: 'abort', id: h[k++]! });
        break;
      default:
        out.push(c[next++]!);
    }
  }
  return out;
}
