// A tiny forward proxy for the upstream-proxy tests (node:http): CONNECT tunnels and absolute-URI requests, counting
// what passes through. It only ever connects to loopback addresses: any other target is recorded and refused with
// 502, so a test can see where the service tried to go without any traffic leaving the machine.
import { EventEmitter } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ForwardProxyOptions {
  /** The Proxy-Authorization value every request must carry; anything else gets 407. */
  readonly requireAuth?: string;
}

export interface ForwardProxy extends EventEmitter {
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly url: string;
  /** CONNECT targets (host:port) in arrival order, refused ones included. */
  readonly tunnels: string[];
  /** Absolute-URI requests (`METHOD url`) in arrival order. */
  readonly forwarded: string[];
  /** The Proxy-Authorization header of each CONNECT or request (undefined when absent). */
  readonly auth: Array<string | undefined>;
  /** Bytes relayed from the target back to the client, over all tunnels and requests. */
  bytesDown(): number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** host:port of a CONNECT target (IPv6 in brackets), or null. */
function splitTarget(target: string): { host: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
  if (!m) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startForwardProxy(o: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const sockets = new Set<Socket>();
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const auth: Array<string | undefined> = [];
  let down = 0;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const emitter = new EventEmitter();
  const authorized = (header: string | undefined): boolean => o.requireAuth === undefined || header === o.requireAuth;

  const server = createServer((req, res) => {
    // absolute-form request (plain-http forwarding without a tunnel)
    const header = req.headers['proxy-authorization'];
    auth.push(header);
    forwarded.push(`${req.method} ${req.url}`);
    emitter.emit('forward', req.url);
    if (!authorized(header)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form URL required');
      return;
    }
    if (target.protocol !== 'http:' || !LOOPBACK.has(target.hostname)) {
      res.writeHead(502).end('this test proxy only reaches loopback over http');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('data', (c: Buffer) => (down += c.length));
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', track);
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const header = req.headers['proxy-authorization'];
    tunnels.push(target);
    auth.push(header);
    emitter.emit('tunnel', target);
    client.on('error', () => client.destroy());
    if (!authorized(header)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const hp = splitTarget(target);
    if (!hp || !LOOPBACK.has(hp.host)) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const up = connect(hp.port, hp.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.on('data', (c: Buffer) => (down += c.length));
      up.pipe(client);
      client.pipe(up);
    });
    track(up);
    up.on('error', () => client.destroy());
    up.on('close', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(emitter, {
    port,
    url: `http://127.0.0.1:${port}`,
    tunnels,
    forwarded,
    auth,
    bytesDown: () => down,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
