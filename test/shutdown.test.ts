// SIGTERM on the real process (§5): not ready at once, listener closed, streams finish within the grace,
// the rest end with an error event, exit code 0.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { NODE_FLAGS } from '../src/start-command.js';
import { KEY, chat } from './helpers/harness.js';
import { openSocket, parseResponse, sseEvents } from './helpers/raw.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

interface Proc {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
  readonly lines: string[];
  /** Resolves with the first log line (already seen or still to come) that matches. */
  waitFor(re: RegExp): Promise<string>;
}

async function startProcess(sim: Simulator, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', VALID_API_KEYS: KEY, DEEPINFRA_MIRRORS: sim.baseUrl, POOL_SIZE: '1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  const waitFor = (re: RegExp): Promise<string> =>
    new Promise((resolve) => {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return resolve(seen);
      const on = (l: string): void => {
        if (!re.test(l)) return;
        rl.off('line', on);
        resolve(l);
      };
      rl.on('line', on);
    });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', () => reject(new Error('exited before listening')));
    rl.on('line', (line) => {
      lines.push(line);
      const v = JSON.parse(line) as { msg?: string; port?: number };
      if (v.msg === 'deepinfra-proxy listening' && v.port) resolve(v.port);
    });
  });
  return { child, port, exited, lines, waitFor };
}

/** A stream read over fetch, resolved with its whole text. */
function streamText(port: number, model: string): { firstEvent: Promise<void>; text: Promise<string> } {
  let first: () => void = () => undefined;
  const firstEvent = new Promise<void>((r) => (first = r));
  const text = (async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify(chat(model, { stream: true })) });
    let out = '';
    const dec = new TextDecoder();
    for await (const chunk of res.body!) {
      out += dec.decode(chunk, { stream: true });
      if (out.includes('data: ')) first();
    }
    return out;
  })();
  return { firstEvent, text };
}

t.test('SIGTERM: /ready 503 at once, in-flight stream completes, new connections refused, exit 0', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const p = await startProcess(sim, { SHUTDOWN_GRACE_MS: '10000' });
  t.teardown(() => p.child.kill('SIGKILL'));
  const keepAlive = await openSocket(p.port); // opened before SIGTERM: an established connection
  const s = streamText(p.port, 'sim/echo;tokens=20;interval=50');
  await s.firstEvent;
  const draining = p.waitFor(/shutting down/);
  p.child.kill('SIGTERM');
  await draining;
  const ready = await new Promise<string>((resolve) => {
    let buf = '';
    keepAlive.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\r\n\r\n') && buf.includes('}')) resolve(buf);
    });
    keepAlive.write('GET /ready HTTP/1.1\r\nHost: t\r\n\r\n');
  });
  t.equal(parseResponse(ready).status, 503, '/ready answers 503 while draining');
  const text = await s.text;
  t.match(text, /data: \[DONE\]\n\n$/, 'the in-flight stream finished normally');
  await t.rejects(fetch(`http://127.0.0.1:${p.port}/health`), 'the listener is closed');
  t.equal(await p.exited, 0, 'exit code 0');
  t.ok(p.lines.some((l) => l.includes('shutdown complete')), 'logged the end of the shutdown');
});

t.test('SIGTERM past SHUTDOWN_GRACE_MS: the remaining stream ends with an error event, exit 0', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const p = await startProcess(sim, { SHUTDOWN_GRACE_MS: '300' });
  t.teardown(() => p.child.kill('SIGKILL'));
  const s = streamText(p.port, 'sim/echo;tokens=400;interval=50');
  await s.firstEvent;
  p.child.kill('SIGTERM');
  const text = await s.text;
  const last = (await sseEvents(text)).at(-1) ?? '';
  t.match(last, /^\{"error":\{.*"code":"shutdown"/, 'one error event says why');
  t.notMatch(text, /\[DONE\]/, 'no fake [DONE]');
  t.equal(await p.exited, 0, 'exit code 0');
});

t.test('a second process on the same port does not start', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const p = await startProcess(sim, {});
  t.teardown(() => p.child.kill('SIGKILL'));
  await t.rejects(startProcess(sim, { PORT: String(p.port) }), /exited before listening/, 'the port is exclusive');
});
