// The log destination (src/log-sink.ts) and the hand-built request line (src/log.ts): every line written, in
// order, through a file, a pipe that stalls and a process that exits at once; bounded when the pipe never drains.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { LogSink, CHUNK_BYTES, MAX_PENDING_BYTES } from '../src/log-sink.js';
import { createLogger, logRequest, type RequestLogLine } from '../src/log.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'log-sink-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Lines of varied sizes: short, multi-byte (é, 😀), and one larger than a whole buffer. */
function lines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = i === n >> 1 ? 'x'.repeat(CHUNK_BYTES + 1000) : `${'é'.repeat(i % 7)}${'😀'.repeat(i % 3)}${'a'.repeat(i % 300)}`;
    out.push(`${JSON.stringify({ i, body })}\n`);
  }
  return out;
}

const flushed = (sink: LogSink): Promise<void> => new Promise((resolve) => sink.flush(() => resolve()));

t.test('every line reaches a file once, in order, across buffers and turns', async (t) => {
  const file = path.join(tmp, 'a.log');
  const fd = fs.openSync(file, 'w');
  const sink = new LogSink(fd);
  const want = lines(20_000);
  for (let i = 0; i < want.length; i++) {
    sink.write(want[i] as string);
    if (i % 997 === 0) await new Promise((r) => setImmediate(r)); // some turns end mid-way, some buffers fill
  }
  await flushed(sink);
  fs.closeSync(fd);
  const got = fs.readFileSync(file, 'utf8');
  t.equal(got.length, want.join('').length, 'as many characters as written');
  t.ok(got === want.join(''), 'the same lines, in the same order');
  t.equal(sink.pending, 0, 'nothing left pending');
});

/** A FIFO opened read-write and non-blocking: writes past its 64 KB answer EAGAIN until someone reads. */
function stalledPipe(name: string): { fd: number; file: string } {
  const file = path.join(tmp, name);
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr.toString()}`);
  return { fd: fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), file };
}

/** Reads the FIFO (a second descriptor) until `until` is true of what was read (its last part, and how much in all). */
async function drain(file: string, until: (tail: string, length: number) => boolean): Promise<string> {
  const rs = new net.Socket({ fd: fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK), readable: true, writable: false });
  const decoder = new StringDecoder('utf8');
  const parts: string[] = [];
  let length = 0;
  let last = '';
  for await (const c of rs) {
    const s = decoder.write(c as Buffer);
    parts.push(s);
    length += s.length;
    last = last.slice(-100) + s; // a line looked for may straddle two reads
    if (until(last, length)) break;
  }
  rs.destroy();
  return parts.join('');
}

/** Resolves once the sink has met a full pipe (its first EAGAIN). */
async function stalled(sink: LogSink): Promise<void> {
  while (sink.retries === 0) await new Promise((r) => setTimeout(r, 1));
}

t.test('a pipe that stalls (EAGAIN) loses nothing: the lines wait and go out in order once it is read', async (t) => {
  const { fd, file } = stalledPipe('stall.fifo');
  const sink = new LogSink(fd);
  const want = lines(4_000); // ~1.5 MB: far more than the pipe holds
  for (const l of want) sink.write(l);
  await stalled(sink);
  t.ok(sink.pending > 0, `lines wait while the pipe is full (${sink.pending} bytes pending)`);
  const all = want.join('');
  const reading = drain(file, (_, length) => length >= all.length);
  await flushed(sink);
  const got = await reading;
  fs.closeSync(fd);
  t.ok(got === all, `every line arrived, in order (${got.length} of ${all.length} characters)`);
  t.equal(sink.dropped, 0, 'none dropped');
});

t.test('a pipe that never drains holds at most MAX_PENDING_BYTES; the drop is counted and reported when it drains', async (t) => {
  const { fd, file } = stalledPipe('full.fifo');
  const sink = new LogSink(fd);
  const line = `${JSON.stringify({ filler: 'y'.repeat(1000) })}\n`;
  const n = Math.ceil((MAX_PENDING_BYTES * 1.5) / line.length);
  let refused = 0;
  for (let i = 0; i < n; i++) if (!sink.write(line)) refused++;
  await stalled(sink);
  t.ok(refused > 0, `lines beyond the bound are refused (${refused} of ${n})`);
  t.equal(sink.dropped, refused, 'and counted');
  t.ok(sink.pending <= MAX_PENDING_BYTES, `pending ${sink.pending} ≤ ${MAX_PENDING_BYTES} bytes`);
  const got = await drain(file, (tail) => tail.includes('"dropped_lines"'));
  const report = got.split('\n').find((l) => l.includes('"dropped_lines"')) as string;
  t.match(JSON.parse(report), { level: 'warn', dropped_lines: refused, msg: 'log destination stalled: lines dropped' }, 'one warning line says how many were dropped');
  t.equal(sink.dropped, 0, 'the count starts again after the report');
  t.ok(got.indexOf(report) > 0 && got.slice(0, got.indexOf(report)).split('\n').every((l) => l === '' || l === line.trimEnd()), 'after the lines that were kept, whole');
  fs.closeSync(fd);
});

t.test('a process that logs and exits at once writes every line (flushSync at exit)', async (t) => {
  const logModule = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/log.js');
  const script = `import(${JSON.stringify(logModule)}).then(({ createLogger }) => {
    const log = createLogger('info');
    for (let i = 0; i < 3000; i++) log.info({ i }, 'line');
    process.exit(3);
  });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  t.equal(r.status, 3, 'exited with its own code');
  const got = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
  t.equal(got.length, 3000, 'all 3000 lines on stdout');
  t.ok(got.every((v, k) => v === k), 'in order');
});

t.test('the request line is the line pino would write for the same fields, key for key', async (t) => {
  const out: string[] = [];
  const capture = new Writable({ write(c: Buffer | string, _e, cb) { out.push(c.toString()); cb(); } });
  const log = createLogger('info', capture);
  const line: RequestLogLine = {
    req_id: 'req-1', route: '/v1/chat/completions', key_id: 'k_ab12', model: 'a "quoted"\n model é😀', stream: true, status: 200,
    outcome: 'ok', code: null, duration_ms: 12, ttfb_ms: 3, bytes: 2048, events: 22, mirror: 0, attempts: 1, prompt_tokens: 9,
    completion_tokens: 21, params: { temperature: 0.5, stop: ['\u2028'] }, prompt: 'say "hi"\tthen\\stop',
  };
  log.info(line, 'request');
  logRequest(log, 'info', line);
  logRequest(log, 'warn', { ...line, status: 502, code: 'upstream_5xx' });
  const [viaPino, ours, warned] = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(out.every((l) => l.endsWith('}\n') && l.indexOf('\n') === l.length - 1), 'one line each, newline-terminated');
  const { time: tPino, ...restPino } = viaPino as Record<string, unknown>;
  const { time: tOurs, ...restOurs } = ours as Record<string, unknown>;
  t.same(restOurs, restPino, 'the same fields and values');
  t.same(Object.keys(ours as object), Object.keys(viaPino as object), 'in the same order');
  t.ok(typeof tOurs === 'string' && !Number.isNaN(Date.parse(tOurs)) && typeof tPino === 'string', 'an ISO time, as pino writes it');
  t.match(warned, { level: 'warn', status: 502, code: 'upstream_5xx', msg: 'request' }, 'the level is the one asked for');
  // where they differ: pino writes a lone surrogate raw (it reads back as U+FFFD); JSON.stringify escapes it
  logRequest(log, 'info', { ...line, prompt: 'lone \ud800 surrogate' });
  t.ok((out[3] as string).includes('lone \\ud800 surrogate'), 'a lone surrogate is written escaped');
  t.equal((JSON.parse(out[3] as string) as { prompt: string }).prompt, 'lone \ud800 surrogate', 'and reads back as it was');
});
