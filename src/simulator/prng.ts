// Seeded pseudo-random numbers (mulberry32) so split points and garbage bodies are reproducible.
export type Prng = () => number;

/** Returns a generator of floats in [0, 1) that depends only on `seed`. */
export function mulberry32(seed: number): Prng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max], both inclusive. */
export function randInt(rand: Prng, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** Cuts `buf` into consecutive pieces of 1..maxPiece bytes (views, no copy). */
export function splitBytes(buf: Buffer, rand: Prng, maxPiece = 7): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = Math.min(randInt(rand, 1, maxPiece), buf.length - i);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Random lines (no CR/LF inside, never starting with `d` or `:`) so that no SSE data event can form. */
export function garbageBytes(rand: Prng, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let lineStart = true;
  for (let i = 0; i < size; i++) {
    if (!lineStart && rand() < 0.02) {
      buf[i] = 0x0a;
      lineStart = true;
      continue;
    }
    let b = randInt(rand, 0, 255);
    if (b === 0x0a || b === 0x0d) b = 0x7f;
    if (lineStart && (b === 0x64 || b === 0x3a)) b = 0x80;
    buf[i] = b;
    lineStart = false;
  }
  return buf;
}
