// readBody (unit, a fake uWS response): the body handed on is exactly its bytes, in a buffer of exactly its size
// (issue 12 §5: a view of a larger buffer would carry all of it to the worker thread).
import t from 'tap';
import { readBody, type BodyResult } from '../src/http/body.js';
import type { HttpResponse } from '../src/http/uws.js';

/** A response whose onData handler the test feeds; like uWS, each chunk's memory is gone once the handler returns. */
function fakeResponse(): { res: HttpResponse; feed(pieces: Uint8Array[]): void } {
  let handler: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
  const res = { onData: (h: (chunk: ArrayBuffer, isLast: boolean) => void) => (handler = h) } as unknown as HttpResponse;
  return {
    res,
    feed(pieces) {
      pieces.forEach((p, i) => {
        const ab = p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer;
        handler!(ab, i === pieces.length - 1);
        structuredClone(ab, { transfer: [ab] }); // detached, as uWS frees it after the callback
      });
    },
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function read(contentLength: number | null, pieces: Uint8Array[], max = 10 * 1024 * 1024): BodyResult[] {
  const { res, feed } = fakeResponse();
  const got: BodyResult[] = [];
  readBody(res, contentLength, max, (r) => got.push(r));
  feed(pieces);
  return got;
}

const concat = (pieces: Uint8Array[]): Buffer => Buffer.concat(pieces.map((p) => Buffer.from(p)));

const shapes: Array<[string, number | null, number[]]> = [
  ['a small chunked body in 3 pieces', null, [17, 5, 40]],
  ['a small body with its content-length, in 2 pieces', 300, [100, 200]],
  ['a chunked body past the first 64 KiB', null, [40_000, 40_000, 40_000, 7]],
  ['a 5 MB body with its content-length, in 64 KiB reads', 5_000_000, Array.from({ length: Math.ceil(5_000_000 / 65536) }, (_, i) => Math.min(65536, 5_000_000 - i * 65536))],
  ['an empty chunked body', null, [0]],
];

for (const [name, contentLength, sizes] of shapes) {
  t.test(`${name}: exactly its bytes, in a buffer of exactly its size`, async (t) => {
    const pieces = sizes.map((n, i) => bytes(n, i));
    const total = sizes.reduce((a, b) => a + b, 0);
    const got = read(contentLength, pieces);
    t.equal(got.length, 1, 'done is called once');
    const r = got[0]!;
    t.ok(r.ok, 'read in full');
    if (!r.ok) return;
    t.equal(r.body.byteLength, total, `${total} bytes`);
    t.equal(r.body.buffer.byteLength, total, `its backing buffer is ${r.body.buffer.byteLength} bytes: exactly the body (what postMessage copies)`);
    t.equal(r.body.byteOffset, 0, 'from the start of it');
    t.ok(Buffer.from(r.body).equals(concat(pieces)), 'the bytes, in order');
  });
}

t.test('over MAX_BODY_SIZE: body_too_large once, nothing after', async (t) => {
  const got = read(null, [bytes(600, 1), bytes(600, 2), bytes(600, 3)], 1024);
  t.same(got, [{ ok: false, code: 'body_too_large' }], 'one refusal');
});
