// Counts the bytes Buffer allocates (allocUnsafe, allocUnsafeSlow, alloc, and copies by Buffer.from) while a function runs.

type Fn = (...args: never[]) => unknown;

/** Runs `f` and returns the bytes of every Buffer allocated meanwhile (Buffer.concat allocates through allocUnsafe). */
export function bytesAllocated(f: () => void): number {
  let bytes = 0;
  const B = Buffer as unknown as Record<string, Fn>;
  const saved: Array<[string, Fn]> = [];
  const wrap = (name: string, count: (args: unknown[], out: Buffer) => number): void => {
    const orig = B[name] as Fn;
    saved.push([name, orig]);
    B[name] = function (this: unknown, ...args: unknown[]) {
      const out = (orig as (...a: unknown[]) => Buffer).apply(this, args);
      bytes += count(args, out);
      return out;
    } as Fn;
  };
  const size = (_: unknown[], out: Buffer): number => out.length;
  wrap('allocUnsafe', size);
  wrap('allocUnsafeSlow', size);
  wrap('alloc', size);
  // Buffer.from(arrayBuffer, …) is a view; from an array, a typed array or a string it copies
  wrap('from', (args, out) => (args[0] instanceof ArrayBuffer || args[0] instanceof SharedArrayBuffer ? 0 : out.length));
  try {
    f();
  } finally {
    for (const [name, orig] of saved.reverse()) B[name] = orig;
  }
  return bytes;
}
