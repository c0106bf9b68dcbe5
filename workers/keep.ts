// When a piece of a buffer may be kept as a view, and when it must be copied so as not to keep the whole alive.

/**
 * The piece itself when it is at least half of the memory it lies in (keeping it keeps little else alive), else a
 * copy of its own: a few bytes of an upstream read (or of a relay's output) must not hold the whole read while
 * they wait.
 */
export function keepable<T extends Uint8Array>(piece: T): T | Buffer {
  return piece.byteLength * 2 >= piece.buffer.byteLength ? piece : Buffer.from(piece);
}
