// The log destination: lines copied into 64 KB buffers, written off the event loop a buffer at a time, in order, bounded; and the head of a line written without pino.
import fs from 'node:fs';

/** Size of one buffer of lines: what one write takes at most. */
export const CHUNK_BYTES = 65_536;
/** The longest a line waits in the current buffer before it is queued for writing. */
export const FLUSH_MS = 20;
/** What may wait for the destination (a stalled pipe) before lines are dropped: 16 MB. */
export const MAX_PENDING_BYTES = 16 * 1_048_576;
/** How long to wait before writing again when the destination answers EAGAIN (a full non-blocking pipe): from
 * 1 ms, doubled while it stays full, at most 100 ms. */
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 100;

/**
 * pino's default destination (sonic-boom, asynchronous) appends each line to one string and measures that string's
 * UTF-8 length again on every write: ~5 µs per line when lines come faster than the writes, most of the cost of
 * the one line per request (docs/performance.md, "The request log line"). Here each line is copied once into a
 * 64 KB buffer, queued when the buffer is full or FLUSH_MS after its first line, and written by fs.write (libuv's
 * thread pool), one write at a time, in order: ~30 lines per write under load where sonic-boom's writes held ~8
 * (each a thread-pool round trip; docs/performance.md). If the destination stalls, lines wait up to
 * MAX_PENDING_BYTES; beyond that they are dropped and counted, and a warning line saying how many is written when
 * the destination takes lines again. Nothing is ever written synchronously except by flushSync (process exit).
 */
export class LogSink {
  #cur: Buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  /** Where the lines not yet queued begin in #cur, and where they end. */
  #start = 0;
  #used = 0;
  /** Filled buffers (or pieces of them) waiting to be written, oldest first; the first is being written when #writing. */
  readonly #queue: Buffer[] = [];
  #queued = 0;
  /** The first queued buffer is being written (or waits to be retried after EAGAIN). */
  #writing = false;
  #retrying = false;
  #timerSet = false;
  #dropped = 0;
  #retries = 0;
  #retryMs = RETRY_FIRST_MS;
  readonly #waiters: (() => void)[] = [];

  constructor(readonly fd: number) {}

  /** Lines dropped because the destination stalled, since the last warning about them. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Times the destination was full (EAGAIN) and a write waited to be retried. */
  get retries(): number {
    return this.#retries;
  }

  /** Bytes accepted and not yet written. */
  get pending(): number {
    return this.#queued + this.#used - this.#start;
  }

  write(line: string): boolean {
    // a UTF-16 unit is at most 3 bytes of UTF-8: a line that might not fit closes the buffer first
    const worst = line.length * 3;
    if (this.pending + line.length > MAX_PENDING_BYTES) {
      this.#dropped++;
      return false;
    }
    if (worst > CHUNK_BYTES - this.#used) {
      this.#seal();
      if (worst > CHUNK_BYTES) {
        this.#enqueue(Buffer.from(line, 'utf8'));
        return true;
      }
      // the queued pieces of the full buffer keep it alive until they are written; new lines go in a fresh one
      this.#cur = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      this.#start = this.#used = 0;
    }
    this.#used += this.#cur.write(line, this.#used, 'utf8');
    if (!this.#timerSet) {
      this.#timerSet = true;
      setTimeout(this.#onTimer, FLUSH_MS).unref(); // exit writes what is left (flushSync)
    }
    return true;
  }

  /** Calls `cb` once everything accepted so far has been written (or dropped on a write error). */
  flush(cb: (err?: Error) => void = () => undefined): void {
    this.#seal();
    if (!this.#writing && this.#queue.length === 0) process.nextTick(cb);
    else this.#waiters.push(cb);
  }

  /** Writes everything still queued now, blocking (process exit). A write in flight is left to finish on its own. */
  flushSync(): void {
    this.#seal();
    const from = this.#writing && !this.#retrying ? 1 : 0;
    for (let i = from; i < this.#queue.length; i++) writeAllSync(this.fd, this.#queue[i] as Buffer);
    this.#queue.length = from;
    this.#queued = from === 1 ? (this.#queue[0] as Buffer).length : 0;
  }

  readonly #onTimer = (): void => {
    this.#timerSet = false;
    this.#seal();
  };

  /** Queues the lines written into the current buffer since the last seal; later lines go on after them. */
  #seal(): void {
    if (this.#used === this.#start) return;
    const lines = this.#cur.subarray(this.#start, this.#used);
    this.#start = this.#used;
    this.#enqueue(lines);
  }

  #enqueue(b: Buffer): void {
    this.#queue.push(b);
    this.#queued += b.length;
    this.#next();
  }

  #next(): void {
    if (this.#writing) return;
    const head = this.#queue[0];
    if (head === undefined) {
      for (const cb of this.#waiters.splice(0)) cb();
      return;
    }
    this.#writing = true;
    fs.write(this.fd, head, 0, head.length, null, this.#written);
  }

  readonly #written = (err: NodeJS.ErrnoException | null, n: number): void => {
    this.#writing = false;
    const head = this.#queue[0] as Buffer;
    if (err !== null) {
      if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
        this.#writing = true; // nothing else may start a write while this one waits to be retried
        this.#retrying = true;
        this.#retries++;
        setTimeout(() => {
          this.#writing = false;
          this.#retrying = false;
          this.#next();
        }, this.#retryMs).unref();
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
        return;
      }
      n = head.length; // the destination refuses (EPIPE, EBADF): drop this buffer rather than retry forever
    }
    this.#retryMs = RETRY_FIRST_MS;
    this.#queued -= n;
    if (n < head.length) this.#queue[0] = head.subarray(n);
    else this.#queue.shift();
    if (this.#dropped > 0 && this.#queued < MAX_PENDING_BYTES / 2) this.#reportDropped();
    this.#next();
  };

  #reportDropped(): void {
    const n = this.#dropped;
    this.#dropped = 0;
    this.write(`${lineHead('warn')}"dropped_lines":${n},"msg":"log destination stalled: lines dropped"}\n`);
  }
}

/** The start of a log line as pino writes it (level, time, pid), for the lines written without pino's serializer. */
export function lineHead(level: 'debug' | 'info' | 'warn' | 'error'): string {
  return `{"level":"${level}","time":"${new Date().toISOString()}","pid":${process.pid},`;
}

function writeAllSync(fd: number, b: Buffer): void {
  for (let off = 0, tries = 0; off < b.length;) {
    try {
      off += fs.writeSync(fd, b, off, b.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || ++tries > 1000) return;
    }
  }
}
