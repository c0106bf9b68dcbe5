// Upstream host names resolved once per DNS_TTL_MS and per burst, not once per new connection.
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

/** How long an answer is reused (dns.lookup gives no TTL; undici's own DNS interceptor keeps answers 10 s too). */
export const DNS_TTL_MS = 10_000;

type Address = { address: string; family: number };
type Callback = (err: NodeJS.ErrnoException | null, answer: readonly Address[]) => void;
/** dns.lookup with `all: true`, as the cache calls it. */
export type LookupAll = (hostname: string, options: { family: number; hints: number; all: true }, cb: (err: NodeJS.ErrnoException | null, addresses: Address[]) => void) => void;

interface Entry {
  /** When the answer came (performance.now()). */
  at: number;
  answer: readonly Address[] | null;
  /** Connections waiting for the lookup in flight; null when none is. */
  waiting: Callback[] | null;
}

export interface CachedLookup extends LookupFunction {
  /** Drops what is known of `hostname` (a connection to its answer failed): the next connection resolves it again. */
  forget(hostname: string): void;
}

const systemLookup: LookupAll = (hostname, options, cb) => dns.lookup(hostname, options, cb);

/**
 * A `lookup` for net.connect and tls.connect (undici's connector passes it on). Node resolves a host name with
 * getaddrinfo on libuv's thread pool (four threads, shared with file writes) for every connection, and keeps
 * nothing: a burst of new upstream connections to a named mirror (DeepInfra's default is one) queued a lookup
 * each there. Here concurrent lookups of one name share one getaddrinfo, and its answer serves the connections
 * of the next DNS_TTL_MS. Failures are not kept; IP literals never get here (net connects to them directly).
 */
export function cachedLookup(ttlMs = DNS_TTL_MS, lookup: LookupAll = systemLookup, now: () => number = () => performance.now()): CachedLookup {
  const entries = new Map<string, Entry>();
  const answer = (options: dns.LookupOptions, cb: Parameters<LookupFunction>[2], err: NodeJS.ErrnoException | null, all: readonly Address[]): void => {
    const first = all[0];
    if (err !== null || first === undefined) {
      const e = err ?? Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
      cb(e, options.all === true ? [] : '', undefined);
    } else if (options.all === true) cb(null, all.map((a) => ({ ...a })), undefined);
    else cb(null, first.address, first.family);
  };
  const resolve: LookupFunction = (hostname, options, cb) => {
    const family = typeof options.family === 'number' ? options.family : options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : 0;
    const hints = options.hints ?? 0;
    const key = `${family}|${hints}|${hostname}`;
    let e = entries.get(key);
    if (e?.answer && now() - e.at < ttlMs) {
      const known = e.answer;
      process.nextTick(() => answer(options, cb, null, known)); // asynchronous, as dns.lookup answers
      return;
    }
    const mine: Callback = (err, all) => answer(options, cb, err, all);
    if (e?.waiting) {
      e.waiting.push(mine);
      return;
    }
    if (e === undefined) {
      e = { at: 0, answer: null, waiting: null };
      entries.set(key, e);
    }
    const entry = e;
    entry.waiting = [mine];
    lookup(hostname, { family, hints, all: true }, (err, addresses) => {
      const waiting = entry.waiting ?? [];
      entry.waiting = null;
      if (err === null && addresses.length > 0) {
        entry.answer = addresses;
        entry.at = now();
      } else {
        entry.answer = null;
      }
      for (const w of waiting) w(err, addresses ?? []);
    });
  };
  return Object.assign(resolve, {
    forget(hostname: string): void {
      for (const [key, e] of entries) if (key.endsWith(`|${hostname}`)) e.answer = null;
    },
  });
}
