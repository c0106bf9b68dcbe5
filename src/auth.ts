// API-key and status-token checks: hash both sides, compare in constant time against every key.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export type AuthResult = { ok: true; keyId: string } | { ok: false };

/** The token of an Authorization header value `Bearer <token>` (scheme case-insensitive), or null. */
export function bearerToken(header: string): string | null {
  const m = /^bearer +(\S+) *$/i.exec(header);
  return m ? m[1]! : null;
}

/** Accepted Authorization values remembered at once (a key's SHA-256 is not recomputed per request). */
const CACHE_MAX = 4096;

export class KeyRing {
  readonly #digests: Buffer[];
  /** Authorization header → key id, for headers already accepted; only valid keys are remembered. */
  readonly #accepted = new Map<string, string>();

  constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  /** Checks an Authorization header value. The key id is a hash prefix: stable, never reversible to the key. */
  check(header: string): AuthResult {
    const known = this.#accepted.get(header);
    if (known !== undefined) return { ok: true, keyId: known };
    const key = bearerToken(header);
    if (key === null) return { ok: false };
    const d = digest(key);
    let ok = false;
    for (const k of this.#digests) ok = timingSafeEqual(d, k) || ok; // every key is compared
    if (!ok) return { ok: false };
    const keyId = 'k_' + d.toString('hex').slice(0, 10);
    if (this.#accepted.size >= CACHE_MAX) this.#accepted.clear();
    this.#accepted.set(header, keyId);
    return { ok: true, keyId };
  }
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
