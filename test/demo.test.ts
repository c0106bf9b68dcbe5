// `npm run demo`: the service in front of the simulator prints a curl line, and that request streams.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../src/demo.js', import.meta.url));

t.test('the demo serves the printed curl line as a stream', async (t) => {
  const child = spawn(process.execPath, [DEMO], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => reject(new Error('demo exited early')));
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      if (l.startsWith('Live dashboard:')) resolve();
    });
  });
  const curl = lines.join('\n').match(/curl -N (\S+) -H 'Authorization: Bearer (\S+)'.*?-d '(.*?)'/s);
  t.ok(curl, 'a curl line is printed');
  const [, url, key, body] = curl!;
  const res = await fetch(url!, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body! });
  t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const text = await res.text();
  t.match(text, /"content":"tok0 "/);
  t.match(text, /data: \[DONE\]\n\n$/, 'streams to [DONE]');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
});
