// The circuit breaker of every mirror, one state for the whole instance: a SharedArrayBuffer that every worker and the main thread read.
//
// closed ──(CIRCUIT_FAILURES mirror failures in a row)──▶ open ──(CIRCUIT_RESET_MS)──▶ half-open: one probe
//   probe succeeds ─▶ closed · probe fails ─▶ open again · probe ends without a verdict ─▶ the next request probes
// Only failures of the mirror itself are reported here (the caller decides what counts). When every candidate
// is open, pick() still answers with the mirror whose circuit opened first (panic routing, as Envoy does):
// breaker state alone never refuses a request.

export type Circuit = 'closed' | 'open' | 'half_open';

export interface MirrorView {
  readonly circuit: Circuit;
  readonly consecutiveFailures: number;
  /** Exponentially weighted time to upstream headers, ms (-1: no sample yet). */
  readonly latencyMs: number;
  /** Attempts sent to this mirror, by every worker since start. */
  readonly attempts: number;
  /** Attempts that failed as a mirror failure, since start. */
  readonly failures: number;
}

export interface Picked {
  readonly index: number;
  /** Non-zero: this attempt holds the mirror's half-open probe; pass it back to success/failure/release. */
  readonly probe: number;
}

// Int32 slots per mirror (Atomics), then Float64 slots per mirror (single writer per verdict; a torn read of
// a latency figure is harmless). Slot 0 of the ints is the probe-token counter of the whole buffer.
const I_FAILS = 0;
const I_PROBE = 1;
const I_ATTEMPTS = 2;
const I_FAILURES = 3;
const INTS = 4;
const F_OPENED = 0;
const F_PROBE_AT = 1;
const F_LATENCY = 2;
const FLOATS = 3;
const NONE: readonly number[] = [];

export class MirrorHealth {
  readonly #i: Int32Array;
  readonly #f: Float64Array;

  /** The shared memory for `count` mirrors (created once, on the main thread). */
  static allocate(count: number): SharedArrayBuffer {
    const buf = new SharedArrayBuffer(8 * (1 + count * FLOATS) + 4 * (1 + count * INTS));
    new Float64Array(buf, 0, 1 + count * FLOATS).fill(-1, 1);
    return buf;
  }

  constructor(
    buffer: SharedArrayBuffer,
    readonly size: number,
    private readonly failuresToOpen: number,
    private readonly resetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#f = new Float64Array(buffer, 0, 1 + size * FLOATS);
    this.#i = new Int32Array(buffer, 8 * (1 + size * FLOATS), 1 + size * INTS);
  }

  #int(index: number, slot: number): number {
    return 1 + index * INTS + slot;
  }
  #float(index: number, slot: number): number {
    return 1 + index * FLOATS + slot;
  }

  /**
   * The mirror for an attempt: mirrors in order from `start` (mod size), skipping those in `exclude` and open
   * circuits; a circuit past its reset time lets exactly one attempt through (the probe). With none left: panic
   * routing. null only when every mirror is excluded.
   */
  pick(start: number, exclude: readonly number[] = NONE): Picked | null {
    const n = this.size;
    const now = this.now();
    let panic = -1;
    for (let k = 0; k < n; k++) {
      const index = (start + k) % n;
      if (exclude.length > 0 && exclude.includes(index)) continue;
      if (Atomics.load(this.#i, this.#int(index, I_FAILS)) < this.failuresToOpen) return this.#take(index, 0);
      const opened = this.#f[this.#float(index, F_OPENED)]!;
      if (now - opened >= this.resetMs) {
        const probe = this.#claimProbe(index, now);
        if (probe !== 0) return this.#take(index, probe);
      }
      if (panic < 0 || opened < this.#f[this.#float(panic, F_OPENED)]!) panic = index;
    }
    return panic < 0 ? null : this.#take(panic, 0);
  }

  /** The mirror answered as a mirror should (any status that is not its own failure). */
  success(p: Picked, headersMs: number): void {
    Atomics.store(this.#i, this.#int(p.index, I_FAILS), 0);
    this.#endProbe(p);
    const at = this.#float(p.index, F_LATENCY);
    const prev = this.#f[at]!;
    this.#f[at] = prev < 0 ? headersMs : prev * 0.8 + headersMs * 0.2;
  }

  /** A failure of the mirror itself: connect error or timeout, reset before headers, 502/503/504. */
  failure(p: Picked): void {
    Atomics.add(this.#i, this.#int(p.index, I_FAILURES), 1);
    const fails = Atomics.add(this.#i, this.#int(p.index, I_FAILS), 1) + 1;
    const probed = this.#endProbe(p);
    // the circuit (re)opens when the count reaches the limit, or when its probe failed
    if (fails === this.failuresToOpen || probed) this.#f[this.#float(p.index, F_OPENED)] = this.now();
  }

  /** The attempt ended without a verdict (the client left, a 4xx): a probe it held passes to the next request. */
  release(p: Picked): void {
    this.#endProbe(p);
  }

  view(index: number): MirrorView {
    const fails = Atomics.load(this.#i, this.#int(index, I_FAILS));
    const now = this.now();
    let circuit: Circuit = 'closed';
    if (fails >= this.failuresToOpen) {
      const halfOpen = now - this.#f[this.#float(index, F_OPENED)]! >= this.resetMs || this.#probeHeld(index, now);
      circuit = halfOpen ? 'half_open' : 'open';
    }
    return {
      circuit,
      consecutiveFailures: fails,
      latencyMs: Math.round(this.#f[this.#float(index, F_LATENCY)]!),
      attempts: Atomics.load(this.#i, this.#int(index, I_ATTEMPTS)),
      failures: Atomics.load(this.#i, this.#int(index, I_FAILURES)),
    };
  }

  views(): MirrorView[] {
    return Array.from({ length: this.size }, (_, i) => this.view(i));
  }

  #take(index: number, probe: number): Picked {
    Atomics.add(this.#i, this.#int(index, I_ATTEMPTS), 1);
    return { index, probe };
  }

  #probeHeld(index: number, now: number): boolean {
    return Atomics.load(this.#i, this.#int(index, I_PROBE)) !== 0 && now - this.#f[this.#float(index, F_PROBE_AT)]! < this.resetMs;
  }

  /** One probe at a time; a probe older than resetMs (its worker died) no longer blocks the next one. */
  #claimProbe(index: number, now: number): number {
    const slot = this.#int(index, I_PROBE);
    const held = Atomics.load(this.#i, slot);
    if (held !== 0 && now - this.#f[this.#float(index, F_PROBE_AT)]! < this.resetMs) return 0;
    const token = (Atomics.add(this.#i, 0, 1) % 0x7ffffffe) + 1;
    if (Atomics.compareExchange(this.#i, slot, held, token) !== held) return 0;
    this.#f[this.#float(index, F_PROBE_AT)] = now;
    return token;
  }

  /** Clears the probe if `p` still holds it; true when it did. */
  #endProbe(p: Picked): boolean {
    if (p.probe === 0) return false;
    return Atomics.compareExchange(this.#i, this.#int(p.index, I_PROBE), p.probe, 0) === p.probe;
  }
}
