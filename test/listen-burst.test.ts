// A burst of connections while the event loop is busy (issue 13, 8000 clients at once): the kernel holds them for
// accept() on LISTEN_SOCKETS sockets of 512 each, instead of dropping what exceeds one socket's backlog (clients
// whose handshake is dropped retry 1 s later, then 3 s, then 7 s).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LISTEN_SOCKETS } from '../src/http/uws.js';
import { chat, startStack } from './helpers/harness.js';

/** Sockets in LISTEN state on `port` (IPv4 and IPv6), from /proc. */
function listening(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(hex) && cols[3] === '0A') n++;
    }
  }
  return n;
}

/**
 * In a child process: opens `n` connections at once and counts the handshakes that complete before the kernel's
 * first SYN retransmission (1 s): a handshake dropped for a full accept queue cannot complete before it.
 */
const BURST = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
let done = 0;
const socks = [];
const end = () => { for (const s of socks) s.destroy(); process.stdout.write(String(done)); process.exit(0); };
const timer = setTimeout(end, 900);
for (let i = 0; i < n; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  s.on('connect', () => { if (++done === n) { clearTimeout(timer); end(); } });
  socks.push(s);
}`;

const N = 800; // over one socket's backlog (512), under the default descriptor limit of 1024 in each process

t.test('the service listens on LISTEN_SOCKETS sockets of its one port', async (t) => {
  const s = await startStack(t);
  t.equal(listening(s.service.port), LISTEN_SOCKETS);
  t.ok(LISTEN_SOCKETS * 512 >= 4096, 'room for 4096 handshakes waiting for accept()');
});

t.test('800 connections arriving while the loop is busy all complete their handshake, and the service then serves', async (t) => {
  const s = await startStack(t);
  // execFileSync blocks this process, whose event loop is the service's: nothing is accepted meanwhile
  const connected = Number(execFileSync(process.execPath, ['-e', BURST, String(s.service.port), String(N)], { encoding: 'utf8' }));
  t.equal(connected, N, `${connected} of ${N} handshakes completed while nothing was accepted`);
  const r = await s.client.chat.completions.create(chat('sim/echo;tokens=3') as never);
  t.ok((r as { choices?: unknown[] }).choices?.length, 'a request after the burst is answered');
});
