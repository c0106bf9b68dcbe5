// The live requests of a thread by integer id, on two arrays indexed by the id's low bits: a table that thousands of requests a second enter and leave without making the garbage collector keep them.
//
// Why not a Map or a Set: their tables are append-only and are rebuilt as entries come and go. Measured with
// `node --trace-gc-nvp` (test/unit-id-table.test.ts has the reproduction): short-lived objects that pass
// through a long-lived Set survive every scavenge until the next full collection, as if the replaced tables still
// held them (V8 links each replaced table to its successor, for iterators that are still walking it). In the inline
// service under `wrk -t2 -c50` three such tables (the in-flight exchanges, a channel's streams, a worker's
// requests) got a short stream's whole object graph promoted: 3.15 KB per stream, and 7.2 µs of scavenging per
// stream; with this table, 0.14 KB and 2.1 µs. An array slot that is overwritten keeps nothing.

/** Slots a table starts with; it doubles when more than half of them would be in use. */
const INITIAL = 1024;

export class IdTable<V> implements Iterable<V> {
  #ids: number[];
  #vals: Array<V | undefined>;
  #mask: number;
  #size = 0;
  /**
   * Entries whose slot a later id needed while they were still in the table (an id that outlived `capacity`
   * newer ones: a long stream among short requests). Few, and they come and go seldom.
   */
  #aside: Map<number, V> | null = null;

  constructor(capacity = INITIAL) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.#ids = new Array<number>(c).fill(-1);
    this.#vals = new Array<V | undefined>(c).fill(undefined);
    this.#mask = c - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** Slots in the arrays (a power of two). */
  get capacity(): number {
    return this.#mask + 1;
  }

  get(id: number): V | undefined {
    const s = id & this.#mask;
    if (this.#ids[s] === id) return this.#vals[s];
    return this.#aside === null ? undefined : this.#aside.get(id);
  }

  has(id: number): boolean {
    return this.#ids[id & this.#mask] === id || (this.#aside !== null && this.#aside.has(id));
  }

  /** Adds or replaces; `id` is a non-negative integer. */
  set(id: number, v: V): void {
    const s = id & this.#mask;
    if (this.#ids[s] === id) {
      this.#vals[s] = v;
      return;
    }
    if (this.#aside !== null && this.#aside.has(id)) {
      this.#aside.set(id, v);
      return;
    }
    this.#size++;
    if (this.#size > (this.#mask + 1) >>> 1) this.#grow();
    this.#put(id, v);
  }

  delete(id: number): boolean {
    const s = id & this.#mask;
    if (this.#ids[s] === id) {
      this.#ids[s] = -1;
      this.#vals[s] = undefined;
      this.#size--;
      return true;
    }
    if (this.#aside === null || !this.#aside.delete(id)) return false;
    if (this.#aside.size === 0) this.#aside = null;
    this.#size--;
    return true;
  }

  clear(): void {
    this.#ids.fill(-1);
    this.#vals.fill(undefined);
    this.#aside = null;
    this.#size = 0;
  }

  /**
   * Calls `fn` once for each entry in the table when it starts, unless that entry was deleted (or replaced)
   * meanwhile. The entries are listed first: `fn` may add and delete (a sweep finishes requests) and no entry
   * is missed, even one that an added id moved aside.
   */
  forEach(fn: (v: V, id: number) => void): void {
    const ids: number[] = [];
    const vals: V[] = [];
    const slotIds = this.#ids;
    for (let s = 0; s < slotIds.length; s++) {
      if (slotIds[s] === -1) continue;
      ids.push(slotIds[s]!);
      vals.push(this.#vals[s]!);
    }
    if (this.#aside !== null) {
      for (const [id, v] of this.#aside) {
        ids.push(id);
        vals.push(v);
      }
    }
    for (let i = 0; i < ids.length; i++) if (this.get(ids[i]!) === vals[i]) fn(vals[i]!, ids[i]!);
  }

  /** The entries now, as an array. */
  values(): V[] {
    const out: V[] = [];
    this.forEach((v) => out.push(v));
    return out;
  }

  [Symbol.iterator](): Iterator<V> {
    return this.values()[Symbol.iterator]();
  }

  /** Puts an entry that is not in the table; an older id in its slot moves aside, or the new one does. */
  #put(id: number, v: V): void {
    const s = id & this.#mask;
    const cur = this.#ids[s]!;
    if (cur !== -1) {
      this.#aside ??= new Map();
      if (cur > id) {
        this.#aside.set(id, v);
        return;
      }
      this.#aside.set(cur, this.#vals[s]!);
    }
    this.#ids[s] = id;
    this.#vals[s] = v;
  }

  #grow(): void {
    const ids = this.#ids;
    const vals = this.#vals;
    const aside = this.#aside;
    const c = ids.length * 2;
    this.#ids = new Array<number>(c).fill(-1);
    this.#vals = new Array<V | undefined>(c).fill(undefined);
    this.#mask = c - 1;
    this.#aside = null;
    for (let s = 0; s < ids.length; s++) if (ids[s] !== -1) this.#put(ids[s]!, vals[s]!);
    if (aside !== null) for (const [id, v] of aside) this.#put(id, v);
  }
}
