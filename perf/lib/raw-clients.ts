// Raw-socket SSE clients held in this process: open N streams, wait for each one's first event, then stop reading (slowclient) or all leave at once (leave).
import net from 'node:net';
import { monoNow } from './clock.js';

export interface RawClient {
  id: number;
  /** HTTP status, 0 until the status line arrived. */
  status: number;
  bytes: number;
  /** When the first SSE event arrived (monoNow ms). */
  firstEventAt: number | undefined;
  /** When the other side ended or reset the connection (monoNow ms). */
  closedAt: number | undefined;
  /** When this side closed it (monoNow ms). */
  leftAt: number | undefined;
  sock: net.Socket;
}

export interface OpenOptions {
  origin: string;
  n: number;
  /** The model name of client i (the simulator echoes it in its abort records). */
  model: (i: number) => string;
  /** After the first event, stop reading: the socket is paused, so the kernel buffers fill and the sender stalls. */
  stopReading: boolean;
  /** Stop waiting for first events after this many ms (clients without one are still returned). */
  timeoutMs: number;
  /** Most connections being established at once (default 200; keeps the accept backlog from dropping SYNs). */
  concurrency?: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const EVENT_END = Buffer.from('\n\n');

/** A streaming chat request as raw HTTP/1.1 (the bench's key), for a client that writes it on its own socket. */
export function request(u: URL, model: string): string {
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Hold on.' }] });
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer linux.do\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Opens `n` streams; resolves when every one has its first event, has failed, or the timeout passed. */
export function openClients(o: OpenOptions): Promise<RawClient[]> {
  const u = new URL(o.origin);
  const clients: RawClient[] = [];
  const limit = o.concurrency ?? 200;
  let next = 0, connecting = 0, settled = 0;
  return new Promise((resolve) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(clients);
    };
    const timer = setTimeout(finish, o.timeoutMs);
    const settle = (): void => {
      if (++settled === o.n) finish();
    };
    const openOne = (): void => {
      const id = next++;
      connecting++;
      const sock = net.connect(Number(u.port), u.hostname);
      const c: RawClient = { id, status: 0, bytes: 0, firstEventAt: undefined, closedAt: undefined, leftAt: undefined, sock };
      clients.push(c);
      let head = Buffer.alloc(0), bodyAt = -1, done = false, inConnect = true;
      const connected = (): void => {
        if (!inConnect) return;
        inConnect = false;
        connecting--;
        pump();
      };
      const once = (): void => {
        if (done) return;
        done = true;
        settle();
      };
      sock.setNoDelay(true);
      sock.once('connect', () => {
        connected();
        sock.write(request(u, o.model(id)));
      });
      sock.on('data', (chunk: Buffer) => {
        c.bytes += chunk.length;
        if (c.firstEventAt !== undefined) return;
        head = head.length < 262144 ? Buffer.concat([head, chunk]) : head;
        if (c.status === 0) {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1', 0, Math.min(head.length, 16)));
          if (m) c.status = Number(m[1]);
        }
        if (bodyAt < 0) {
          const h = head.indexOf(HEADER_END);
          if (h >= 0) bodyAt = h + HEADER_END.length;
        }
        if (bodyAt >= 0 && head.indexOf(EVENT_END, bodyAt) >= 0) {
          c.firstEventAt = monoNow();
          head = Buffer.alloc(0);
          if (o.stopReading) sock.pause();
          once();
        }
      });
      const closed = (): void => {
        if (c.leftAt === undefined) c.closedAt ??= monoNow();
        connected();
        once();
      };
      sock.on('end', closed);
      sock.on('error', closed);
      sock.on('close', closed);
    };
    const pump = (): void => {
      while (next < o.n && connecting < limit) openOne();
    };
    if (o.n === 0) finish();
    pump();
  });
}

/** Every client closes its socket in one synchronous loop; each records when. Returns when the loop began (monoNow ms). */
export function leaveAll(clients: readonly RawClient[]): number {
  const t = monoNow();
  for (const c of clients) {
    if (c.closedAt !== undefined) continue;
    c.leftAt = monoNow();
    c.sock.destroy();
  }
  return t;
}

/** Closes whatever is still open (end of a scenario). */
export function closeAll(clients: readonly RawClient[]): void {
  for (const c of clients) c.sock.destroy();
}
