// The media routes through the proxy with the official openai SDK: images.generate, audio transcriptions and
// translations (a real multipart upload, relayed byte for byte; MAX_UPLOAD_SIZE and its 413s), audio.speech read
// as bytes (the simulator's exactly), speech under backpressure, and a speech body cut mid-way. POOL_SIZE=0 and 2.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import OpenAI, { toFile } from 'openai';
import { startStack, idle, nextEvent, within, KEY, type Stack } from './helpers/harness.js';
import { closed, head, sendAndWait } from './helpers/hostile.js';
import { openSocket } from './helpers/raw.js';
import type { SimModelEvent } from '../src/simulator/index.js';

const BUFFER = 16 * 1024;
/** One upstream read can arrive on top of the budget before the worker pauses (as for chat: backpressure.test.ts). */
const ONE_READ = 64 * 1024;

const lastLog = (s: Stack, route: string): Record<string, unknown> | undefined => s.logs.filter((l) => l['route'] === route).at(-1);

/** A multipart body as a browser or SDK would send it: model, response_format and one file part. */
function multipart(boundary: string, model: string, file: Buffer, filename = 'clip.wav'): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: audio/wav\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${model}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\njson\r\n--${boundary}--\r\n`),
  ]);
}

/** A POST through node:http; resolves with the response once its headers are in. */
function rawPost(port: number, path: string, body: Buffer | string, type = 'application/json'): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': type } });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(body);
  });
}

for (const pool of ['0', '2']) {
  t.test(`POOL_SIZE=${pool}`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool, MAX_RETRIES: '0' });

    t.test('images.generate: the upstream JSON relayed', async (t) => {
      const r = await s.client.images.generate({ model: 'sim/echo', prompt: 'a red fox', n: 2, size: '32x32', response_format: 'b64_json' });
      t.equal(r.data?.length, 2, 'two images');
      const png = Buffer.from(r.data?.[0]?.b64_json ?? '', 'base64');
      t.same([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
      t.equal(png.readUInt32BE(16), 32, 'its width');
      const rec = s.sim.requests.at(-1);
      t.equal(rec?.path, '/v1/openai/images/generations', 'DeepInfra path');
      t.match(JSON.parse(rec?.body.toString() ?? '{}'), { model: 'sim/echo', prompt: 'a red fox', n: 2, size: '32x32' });
      await idle(s.service);
      t.match(lastLog(s, '/v1/images/generations'), { status: 200, model: 'sim/echo', stream: false, outcome: 'ok' });
    });

    t.test('audio.transcriptions / translations: a real multipart upload, answered as the upstream answered', async (t) => {
      const audio = Buffer.alloc(48_000, 7);
      const r = await s.client.audio.transcriptions.create({ model: 'sim/echo', file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }) });
      t.equal(r.text, 'Simulated transcription of clip.wav (48000 bytes).', 'the upstream saw the whole file');
      const rec = s.sim.requests.at(-1);
      t.equal(rec?.path, '/v1/openai/audio/transcriptions');
      t.match(String(rec?.headers['content-type']), /^multipart\/form-data; boundary=/, "the client's content-type, boundary included");
      const text = await s.client.audio.transcriptions.create({ model: 'm', file: await toFile(audio, 'a.mp3'), response_format: 'text' });
      t.equal(text, 'Simulated transcription of a.mp3 (48000 bytes).\n', 'a text/plain answer relayed as it came');
      const tr = await s.client.audio.translations.create({ model: 'm', file: await toFile(Buffer.from('abc'), 'x.ogg') });
      t.equal(tr.text, 'Simulated translation of x.ogg (3 bytes).');
      await idle(s.service);
      t.match(lastLog(s, '/v1/audio/translations'), { status: 200, model: 'm', outcome: 'ok' });
    });

    t.test('audio.speech read as bytes: exactly what the simulator sends, under its content-type', async (t) => {
      const params = { model: 'sim/echo;size=300000', voice: 'alloy' as const, input: 'hello', response_format: 'wav' as const };
      const r = await s.client.audio.speech.create(params);
      t.equal(r.headers.get('content-type'), 'audio/wav', 'the upstream content-type');
      t.notOk(r.headers.get('content-length'), 'streamed, not collected');
      const got = Buffer.from(await r.arrayBuffer());
      const direct = await fetch(`${s.sim.baseUrl}/audio/speech`, { method: 'POST', body: JSON.stringify(params) });
      const want = Buffer.from(await direct.arrayBuffer());
      t.equal(got.length, 300_000, 'every byte');
      t.ok(got.equals(want), 'byte for byte what the simulator sends');
      await idle(s.service);
      t.match(lastLog(s, '/v1/audio/speech'), { status: 200, stream: true, outcome: 'ok', bytes: 300_000 });
    });
  });
}

t.test('uploads have their own cap (MAX_UPLOAD_SIZE); the JSON routes keep MAX_BODY_SIZE', async (t) => {
  const s = await startStack(t, { MAX_UPLOAD_SIZE: String(64 * 1024), MAX_BODY_SIZE: '4096' });
  const port = s.service.port;
  const ok = multipart('b0undary', 'sim/echo', Buffer.alloc(20_000, 1));
  const res = await rawPost(port, '/v1/audio/transcriptions', ok, 'multipart/form-data; boundary=b0undary');
  t.equal(res.statusCode, 200, 'an upload over MAX_BODY_SIZE but under MAX_UPLOAD_SIZE is relayed');
  res.resume();
  await once(res, 'end');
  t.ok(s.sim.requests.at(-1)?.body.equals(ok), 'the upload reached the upstream byte for byte');
  const json = await s.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }).catch((e: unknown) => e);
  t.ok(json instanceof OpenAI.APIError && json.status === 413, 'a JSON body over MAX_BODY_SIZE is still a 413');

  const before = s.sim.requests.length;
  const announced = await sendAndWait(port, head('/v1/audio/transcriptions', [`Authorization: Bearer ${KEY}`, 'Content-Type: multipart/form-data; boundary=x', `Content-Length: ${64 * 1024 + 1}`]), { limitMs: 5000 });
  t.notOk(announced.heldOpen, 'answered and closed without the body being sent');
  t.equal(announced.response?.status, 413, 'content-length over MAX_UPLOAD_SIZE: 413 before reading');
  t.match(announced.response?.body, /"code":"body_too_large"/);
  const big = await s.client.audio.transcriptions.create({ model: 'm', file: await toFile(Buffer.alloc(100_000), 'big.wav') }).catch((e: unknown) => e);
  t.ok(big instanceof OpenAI.APIError && big.status === 413, `the SDK's upload over the cap: 413 (got ${String(big)})`);

  // chunked: the 413 comes once the cap is passed
  const sock = await openSocket(port);
  let raw = '';
  sock.on('data', (c: Buffer) => (raw += c.toString('latin1')));
  sock.write(head('/v1/audio/translations', [`Authorization: Bearer ${KEY}`, 'Content-Type: multipart/form-data; boundary=x', 'Transfer-Encoding: chunked']));
  let sent = 0;
  while (!raw.includes('\r\n\r\n') && !sock.destroyed && sent < 256 * 1024) {
    await new Promise<void>((resolve) => sock.write(`1000\r\n${'x'.repeat(4096)}\r\n`, () => resolve()));
    sent += 4096;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await closed(sock);
  t.match(raw, /^HTTP\/1\.1 413 /, `chunked upload: 413 (after ${sent} bytes sent)`);
  t.ok(sent > 64 * 1024 && sent < 256 * 1024, 'the 413 came once the cap was passed');
  await idle(s.service);
  t.equal(s.sim.requests.length, before, 'no oversized upload reached the upstream');
  t.equal(s.service.state.admission.inFlight, 0, 'slots freed');
});

t.test('bad uploads and bodies are 400s that never reach the upstream', async (t) => {
  const s = await startStack(t, {});
  const port = s.service.port;
  const cases: Array<[string, Buffer | string, string, string | null]> = [
    ['/v1/audio/transcriptions', '{"model":"m"}', 'application/json', null],
    ['/v1/audio/transcriptions', 'garbage', 'multipart/form-data; boundary=B', null],
    ['/v1/audio/transcriptions', '--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxx\r\n--B--\r\n', 'multipart/form-data; boundary=B', 'model'],
    ['/v1/audio/translations', '--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--B--\r\n', 'multipart/form-data; boundary=B', 'file'],
    ['/v1/images/generations', '{"model":"m"}', 'application/json', 'prompt'],
    ['/v1/images/generations', '{"model":"m","prompt":"p","stream":true}', 'application/json', 'stream'],
    ['/v1/audio/speech', '{"model":"m","voice":"alloy"}', 'application/json', 'input'],
    ['/v1/audio/speech', '{"input":"hi"}', 'application/json', 'model'],
  ];
  for (const [path, body, type, param] of cases) {
    const res = await rawPost(port, path, body, type);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    t.equal(res.statusCode, 400, `${path} ${String(body).slice(0, 30)}: 400`);
    t.match(JSON.parse(Buffer.concat(chunks).toString()), { error: { type: 'invalid_request_error', param } }, `${path}: param ${param}`);
  }
  t.equal(s.sim.requests.length, 0, 'none reached the upstream');
});

for (const pool of ['0', '2']) {
  t.test(`speech with a paused client: the simulator's writes block, the proxy holds ≤ buffer + one read (POOL_SIZE=${pool})`, async (t) => {
    const s = await startStack(t, { POOL_SIZE: pool, STREAM_BUFFER_SIZE: String(BUFFER), CLIENT_STALL_TIMEOUT: '60000' });
    const size = 16 * 1024 * 1024; // 1000 × STREAM_BUFFER_SIZE: more than the loopback buffers hold
    const model = `sim/echo;size=${size}`;
    const blocked = nextEvent<SimModelEvent>(s.sim, 'blocked', (e) => e.model === model);
    const res = await rawPost(s.service.port, '/v1/audio/speech', JSON.stringify({ model, voice: 'alloy', input: 'x', response_format: 'pcm' }));
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'audio/pcm');
    res.pause();
    await within(blocked, 10_000, 'the simulator’s writes blocking (backpressure reaching the upstream)');
    const [ex] = [...s.service.state.active];
    t.ok(ex, 'the stream is in flight');
    t.ok(ex!.pending <= BUFFER + ONE_READ, `proxy holds ${ex!.pending} bytes for the paused client (≤ buffer + one read)`);
    t.equal(s.sim.stats.completed, 0, 'the upstream has not finished while the client is paused');
    let bytes = 0;
    let same = true;
    res.on('data', (c: Buffer) => {
      // the simulator's tone: bytes of period 32, 88 then 168 (media.ts)
      for (let i = 0; i < c.length && same; i += 997) same = c[i] === (((bytes + i) >> 4) & 1 ? 168 : 88);
      bytes += c.length;
    });
    res.resume();
    await once(res, 'end');
    t.equal(bytes, size, 'every byte arrived');
    t.ok(same, 'in order');
    await idle(s.service);
    t.equal(s.service.state.admission.inFlight, 0, 'slot freed');
  });
}

t.test('speech: a body cut upstream is cut for the client too (never a clean end); before the first byte, a status', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0' });
  const res = await rawPost(s.service.port, '/v1/audio/speech', JSON.stringify({ model: 'sim/reset;after=2;size=1000000', voice: 'a', input: 'x' }));
  t.equal(res.statusCode, 200, 'the body had started');
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  res.on('error', () => undefined);
  await new Promise<void>((resolve) => res.once('close', () => resolve()));
  t.notOk(res.complete, 'the client sees an incomplete body');
  t.ok(bytes > 0 && bytes < 1_000_000, `part of the body came (${bytes} bytes)`);
  await idle(s.service);
  t.match(lastLog(s, '/v1/audio/speech'), { status: 200, code: 'upstream_reset' }, 'logged with its code');
  const err = await s.client.audio.speech.create({ model: 'sim/error503', voice: 'alloy', input: 'x' }).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.APIError && err.status === 503, 'an upstream 503 before the body keeps its status');
  t.equal(s.service.state.admission.inFlight, 0);
});

t.test('speech: no keep-alive comment ever goes into a binary body; a proxy limit cuts it', async (t) => {
  const s = await startStack(t, { CONNECTION_CHECK_INTERVAL: '1', MAX_RETRIES: '0' });
  // three writes 1.2 s apart: a chat stream this idle would get `: keep-alive` comments
  const params = { model: 'sim/echo;size=40000;interval=1200', voice: 'alloy' as const, input: 'x', response_format: 'pcm' as const };
  const got = Buffer.from(await (await s.client.audio.speech.create(params)).arrayBuffer());
  const want = Buffer.from(await (await fetch(`${s.sim.baseUrl}/audio/speech`, { method: 'POST', body: JSON.stringify(params) })).arrayBuffer());
  t.equal(got.length, 40_000, 'the body has its length, nothing added');
  t.ok(got.equals(want), 'byte for byte the simulator’s');

  // an upstream that sends its headers, then nothing for 1.5 s: the quiet time before the first byte
  const quiet = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    res.flushHeaders();
    setTimeout(() => res.end('abc'), 1500).unref();
  });
  await new Promise<void>((resolve) => quiet.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { quiet.closeAllConnections(); quiet.close(() => resolve()); }));
  const { port } = quiet.address() as { port: number };
  const q = await startStack(t, { CONNECTION_CHECK_INTERVAL: '1' }, { mirrors: `http://127.0.0.1:${port}/v1/openai` });
  const late = await q.client.audio.speech.create({ model: 'm', voice: 'alloy', input: 'x' });
  t.equal(Buffer.from(await late.arrayBuffer()).toString('latin1'), 'abc', 'quiet before the first byte: still nothing added');

  const limited = await startStack(t, { MAX_CONNECTION_TIME: '400' });
  const res = await rawPost(limited.service.port, '/v1/audio/speech', JSON.stringify({ ...params, model: 'sim/echo;size=400000;interval=50' }));
  t.equal(res.statusCode, 200);
  res.on('data', () => undefined);
  res.on('error', () => undefined);
  await new Promise<void>((resolve) => res.once('close', () => resolve()));
  t.notOk(res.complete, 'MAX_CONNECTION_TIME mid-body: the client sees it cut, not complete');
  await idle(limited.service);
  t.match(lastLog(limited, '/v1/audio/speech'), { status: 200, code: 'max_connection_time' });
});
