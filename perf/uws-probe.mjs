// Probes the uWebSockets.js build for what the service relies on (docs/platform.md has the results):
//   node perf/uws-probe.mjs [module]      module defaults to uWebSockets.js (the installed alias); a path to a
//                                         package folder or a .node binary compares another build
// It checks the API surface, exclusive listen, HTTP/1.0, corked writes with a reader that does not read, and how
// long uWS keeps a connection whose output does not drain (about 10 s: this probe takes ~12 s in all).
import net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const uws = require(process.argv[2] ?? 'uWebSockets.js');

const CHUNK = Buffer.alloc(8 * 1024, 'x');
const report = {};
const say = (k, v) => {
  report[k] = v;
  console.log(k.padEnd(34), JSON.stringify(v));
};
const listen = (app, port, options) => new Promise((resolve) => app.listen('127.0.0.1', port, options, (s) => resolve(s || null)));
const portOf = (s) => uws.us_socket_local_port(s);
const raw = (port, text) => {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.write(text);
  return sock;
};
/** Resolves when `sock` has been silent for `ms` (a probe, not a test: a quiet period is the measurement). */
const quiet = (sock, ms) => new Promise((resolve) => {
  let timer = setTimeout(resolve, ms);
  sock.on('data', () => {
    clearTimeout(timer);
    timer = setTimeout(resolve, ms);
  });
});

async function main() {
  // 1. API surface: what src/http and the SSE writer call
  const app = uws.App();
  let resApi = null;
  app.get('/api', (res) => {
    resApi = Object.fromEntries(['cork', 'onWritable', 'getWriteOffset', 'onAborted', 'onData', 'writeStatus', 'writeHeader', 'write', 'end', 'tryEnd', 'close']
      .map((m) => [m, typeof res[m] === 'function']));
    res.end('ok');
  });
  say('module functions', Object.fromEntries(['App', 'us_socket_local_port', 'us_listen_socket_close'].map((f) => [f, typeof uws[f] === 'function'])));
  say('LIBUS_LISTEN_EXCLUSIVE_PORT', uws.LIBUS_LISTEN_EXCLUSIVE_PORT);
  const ls = await listen(app, 0, 1);
  const port = portOf(ls);
  await new Promise((resolve) => raw(port, 'GET /api HTTP/1.1\r\nHost: p\r\n\r\n').once('data', resolve));
  say('HttpResponse methods', resApi);

  // 2. exclusive listen: a second listen on the port, exclusive or not, must fail
  for (const options of [1, 0]) {
    const second = await listen(uws.App(), port, options);
    say(`second listen (options ${options})`, second ? 'SUCCEEDED' : 'refused');
    if (second) uws.us_listen_socket_close(second);
  }

  // 3. HTTP/1.0
  {
    const sock = raw(port, 'GET /api HTTP/1.0\r\nHost: p\r\n\r\n');
    const t0 = Date.now();
    let text = '';
    sock.on('data', (d) => (text += d));
    const closed = await Promise.race([new Promise((r) => sock.once('close', () => r(true))), new Promise((r) => setTimeout(() => r(false), 3000))]);
    say('HTTP/1.0 request', { status: text.split('\r\n')[0] || null, closedByServer: closed, ms: Date.now() - t0 });
    sock.destroy();
  }

  // 4. corked 8 KB writes to a client that does not read, then an onWritable handler that writes nothing
  await new Promise((done) => {
    const a = uws.App();
    let client;
    a.get('/slow', (res) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      res.cork(() => res.writeStatus('200 OK'));
      let handed = 0;
      let writes = 0;
      const step = () => {
        if (aborted) return;
        let ok = false;
        res.cork(() => (ok = res.write(CHUNK)));
        handed += CHUNK.length;
        writes++;
        if (ok) return void setImmediate(step);
        say('corked writes until false', { writes, bytesAcceptedWithTrue: handed - CHUNK.length, getWriteOffset: res.getWriteOffset() });
        let calls = 0;
        res.onWritable(() => {
          calls++;
          return true; // wrote nothing
        });
        let body = '';
        client.on('data', (d) => (body += d.toString('latin1')));
        client.resume();
        quiet(client, 700).then(() => {
          const got = (body.match(/x/g) ?? []).length;
          say('drained, idle onWritable', { handedToUws: handed, clientGot: got, stuckInUws: handed - got, onWritableCalls: calls });
          res.cork(() => res.end('END'));
          return quiet(client, 700);
        }).then(() => {
          const got = (body.match(/x/g) ?? []).length;
          say('after res.end', { clientGot: got, stuckInUws: handed - got, endSeen: body.includes('END') });
          client.destroy();
          uws.us_listen_socket_close(s);
          done();
        });
      };
      step();
    });
    let s;
    listen(a, 0, 1).then((sock) => {
      s = sock;
      client = raw(portOf(sock), 'GET /slow HTTP/1.1\r\nHost: p\r\n\r\n');
      client.pause();
    });
  });

  // 5. drain limit: a client that stops reading; time from the first false write to onAborted
  await new Promise((done) => {
    const a = uws.App();
    let client, s;
    a.get('/stall', (res) => {
      let since = 0;
      res.onAborted(() => {
        say('dropped after output stalled (ms)', Date.now() - since);
        client.destroy();
        uws.us_listen_socket_close(s);
        done();
      });
      res.cork(() => res.writeStatus('200 OK'));
      const step = () => {
        let ok = false;
        res.cork(() => (ok = res.write(CHUNK)));
        if (ok) setImmediate(step);
        else {
          since = Date.now();
          res.onWritable(() => true);
        }
      };
      step();
    });
    listen(a, 0, 1).then((sock) => {
      s = sock;
      client = raw(portOf(sock), 'GET /stall HTTP/1.1\r\nHost: p\r\n\r\n');
      client.pause();
    });
  });
  uws.us_listen_socket_close(ls);
  console.log(JSON.stringify({ node: process.version, report }));
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
