// A deliberately slow SSE reader on a raw socket: reads at a fixed byte rate by pausing, for a fixed time.
import net from 'node:net';

export interface SlowReadResult {
  status: number;
  bytes: number;
  events: number;
  /** [ms since start, bytes read so far] every second. */
  progress: Array<[number, number]>;
  endedEarly: boolean;
}

/** POSTs a stream request for `model` to `origin` and reads `rate` bytes/s for `seconds`, then closes. */
export function slowRead(origin: string, model: string, rate: number, seconds: number): Promise<SlowReadResult> {
  const u = new URL(origin);
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Slowly, please.' }] });
  const req =
    `POST /v1/chat/completions HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer linux.do\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const t0 = performance.now();
    let bytes = 0, events = 0, nl = false, status = 0, head = '', timer: NodeJS.Timeout | undefined;
    const progress: Array<[number, number]> = [];
    const tick = setInterval(() => progress.push([Math.round(performance.now() - t0), bytes]), 1000);
    const done = (endedEarly: boolean): void => {
      clearInterval(tick);
      clearTimeout(timer);
      clearTimeout(stopTimer);
      sock.destroy();
      resolve({ status, bytes, events, progress, endedEarly });
    };
    const stopTimer = setTimeout(() => done(false), seconds * 1000);
    sock.on('connect', () => sock.write(req));
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (status === 0) {
        head += chunk.toString('latin1', 0, Math.min(chunk.length, 64));
        const m = /^HTTP\/1\.\d (\d{3})/.exec(head);
        if (m) status = Number(m[1]);
      }
      let n = nl && chunk[0] === 0x0a ? 1 : 0;
      for (let i = chunk.indexOf('\n\n'); i !== -1; i = chunk.indexOf('\n\n', i + 2)) n++;
      nl = chunk[chunk.length - 1] === 0x0a;
      events += n;
      const ahead = bytes - (rate * (performance.now() - t0)) / 1000;
      if (ahead > 0) {
        sock.pause();
        timer = setTimeout(() => sock.resume(), (ahead / rate) * 1000);
      }
    });
    sock.on('error', () => done(true));
    sock.on('end', () => done(true));
  });
}
