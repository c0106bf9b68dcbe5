// Issue 12 §5 (body copies), over sockets: what the main thread hands to a worker is exactly the request body;
// postMessage copies a typed array's whole backing buffer, so that buffer must be the body's size.
import t from 'tap';
import { startStack, chat, within, KEY, type Stack } from './helpers/harness.js';
import { openSocket, parseResponse } from './helpers/raw.js';

/** Records the body of every request the service opens on a worker (as postMessage would copy it). */
function spyBodies(s: Stack): Array<{ length: number; buffer: number }> {
  const seen: Array<{ length: number; buffer: number }> = [];
  const pool = s.service.state.pool;
  const open = pool.open.bind(pool);
  pool.open = (msg, events) => {
    seen.push({ length: msg.body.byteLength, buffer: msg.body.buffer.byteLength });
    return open(msg, events);
  };
  return seen;
}

/** Sends a chunked POST in `pieces` writes and resolves with the parsed response once the server closes. */
async function chunked(port: number, body: string, pieces: number): Promise<ReturnType<typeof parseResponse>> {
  const sock = await openSocket(port);
  const parts: Buffer[] = [];
  sock.on('data', (c: Buffer) => parts.push(c));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
  const size = Math.ceil(body.length / pieces);
  for (let i = 0; i < body.length; i += size) {
    const piece = body.slice(i, i + size);
    sock.write(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
    await new Promise((r) => setImmediate(r));
  }
  sock.write('0\r\n\r\n');
  await within(closed, 10_000, 'the response to a chunked request');
  return parseResponse(Buffer.concat(parts).toString('utf8'));
}

for (const pool of ['0', '1']) {
  t.test(`POOL_SIZE=${pool}: a small chunked body and a 5 MB body reach the worker as exactly their bytes`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool });
    const seen = spyBodies(s);
    const small = JSON.stringify(chat('sim/echo;tokens=2'));
    const res = await chunked(s.service.port, small, 3);
    t.equal(res.status, 200, 'the chunked request is served');
    t.same(seen[0], { length: small.length, buffer: small.length }, `a ${small.length}-byte chunked body in 3 pieces: handed on in a buffer of exactly its size`);
    const upstream = s.sim.requests.at(-1)?.body.toString('utf8');
    t.equal(upstream, small, 'and the upstream got exactly it');

    const big = JSON.stringify(chat('sim/echo;tokens=1', { messages: [{ role: 'user', content: 'x'.repeat(5_000_000) }] }));
    const r = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: big });
    t.equal(r.status, 200, 'the 5 MB request is served');
    t.same(seen[1], { length: big.length, buffer: big.length }, `a ${big.length}-byte body: handed on in a buffer of exactly its size`);
  });
}
