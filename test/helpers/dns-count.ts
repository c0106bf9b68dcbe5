// Counts the system resolver's lookups of one host name in this process (dns.lookup, which net.connect calls).
import dns from 'node:dns';

/** Counts the system's lookups of `hostname` in this process (the service runs inline here: POOL_SIZE=0). */
export function countLookups(t: { teardown(fn: () => void): void }, hostname: string): () => number {
  const original = dns.lookup;
  let n = 0;
  const counting = function (this: unknown, ...args: unknown[]): unknown {
    if (args[0] === hostname) n++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  (dns as { lookup: unknown }).lookup = counting;
  t.teardown(() => {
    (dns as { lookup: unknown }).lookup = original;
  });
  return () => n;
}
