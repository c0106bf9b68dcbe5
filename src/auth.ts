// API-key and status-token checks: hash both sides, compare in constant time against every key.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export type AuthResult = { ok: true; keyId: string } | { ok: false };

/** The token of an Authorization header value `Bearer <token>` (scheme case-insensitive), or null. */
export function bearerToken(header: string): string | null {
  const m = /^bearer +(\S+) *$/i.exec(header);
  return m ? m[1]! : null;
}

export class KeyRing {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  /** Checks an Authorization header value. The key id is a hash prefix: stable, never reversible to the key. */
  check(header: string): AuthResult {
    const key = bearerToken(header);
    if (key === null) return { ok: false };
    const d = digest(key);
    let ok = false;
    for (const k of this.#digests) ok = timingSafeEqual(d, k) || ok; // every key is compared
    return ok ? { ok: true, keyId: 'k_' + d.toString('hex').slice(0, 10) } : { ok: false };
  }
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
