// API-key and status-token checks: hash both sides, compare in constant time against every key.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export type AuthResult = { ok: true; keyId: string; key: string } | { ok: false };

export class KeyRing {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  /** Checks an Authorization header value: `Bearer <key>` (scheme case-insensitive). */
  check(header: string): AuthResult {
    const m = /^bearer +([^\s]+) *$/i.exec(header);
    if (!m) return { ok: false };
    const key = m[1]!;
    const d = digest(key);
    let ok = false;
    for (const k of this.#digests) ok = timingSafeEqual(d, k) || ok; // every key is compared
    return ok ? { ok: true, key, keyId: 'k_' + d.toString('hex').slice(0, 10) } : { ok: false };
  }
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
