// An upstream that answers any request with an endless SSE stream of ~1 KB events, plain or TLS (the throwaway certificate of test/fixtures/).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';

/** One event of the endless stream (~1 KB of content). */
export const ENDLESS_EVENT = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(1000)}"},"finish_reason":null}]}\n\n`;

export interface EndlessUpstream {
  readonly port: number;
  /** The server (its address for a target's mirror). */
  readonly server: Server;
  /** Closes the server and every connection it holds. */
  close(): void;
}

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/**
 * Listens on 127.0.0.1 (port 0) and answers the first bytes of each connection with a 200 event stream written as
 * fast as the socket takes it, in chunks of 16 events; over TLS in records of up to 16 KB (Node's largest).
 */
export async function startEndless(secure: boolean): Promise<EndlessUpstream> {
  const chunk = Buffer.from(`${Buffer.byteLength(ENDLESS_EVENT).toString(16)}\r\n${ENDLESS_EVENT}\r\n`.repeat(16));
  const sockets = new Set<Socket>();
  const serve = (s: Socket): void => {
    sockets.add(s);
    s.on('error', () => undefined).on('close', () => sockets.delete(s));
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    });
  };
  const server: Server = secure ? createTlsServer({ key: fixture('upstream-key.pem'), cert: fixture('upstream-cert.pem') }, serve) : createServer(serve);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
