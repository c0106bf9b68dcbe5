// Tests of the simulator's media routes (images, speech, transcriptions/translations) through the official openai SDK.
import t from 'tap';
import { simEvent } from './helpers/observe.js';
import { once } from 'node:events';
import http from 'node:http';
import OpenAI, { toFile } from 'openai';
import { SPEECH_BYTES_PER_CHAR, startSimulator, type Simulator } from '../src/simulator/index.js';
import { boundaryOf, parseMultipart } from '../src/simulator/multipart.js';

const sim: Simulator = await startSimulator();
t.teardown(() => sim.close());
const client = new OpenAI({ apiKey: 'k', baseURL: sim.baseUrl, maxRetries: 0 });

/** Bytes 16..24 of a PNG: width and height from its IHDR chunk. */
function pngSize(png: Buffer): [number, number] {
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

t.test('images.generate: n, b64_json and url, size', async (t) => {
  const r = await client.images.generate({ model: 'sim/echo', prompt: 'a red fox', n: 2, size: '256x256', response_format: 'b64_json' });
  t.equal(r.data?.length, 2);
  t.type(r.created, 'number');
  for (const d of r.data ?? []) {
    const png = Buffer.from(d.b64_json ?? '', 'base64');
    t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    t.same(pngSize(png), [256, 256]);
    t.equal(d.revised_prompt, 'a red fox');
  }
  const urls = await client.images.generate({ model: 'black-forest-labs/FLUX-1-schnell', prompt: 'x', response_format: 'url' });
  t.equal(urls.data?.length, 1);
  t.match(urls.data?.[0]?.url, /^https:\/\/images\.sim\.invalid\/\d+-0\.png$/);
  const rec = sim.requests.at(-1);
  t.equal(rec?.path, '/v1/openai/images/generations');
  t.match(JSON.parse(rec?.body.toString() ?? '{}'), { model: 'black-forest-labs/FLUX-1-schnell', prompt: 'x' });
});

t.test('images: 400s and error behaviours', async (t) => {
  const noPrompt = await client.images.generate({ model: 'm', prompt: '' }).catch((e: unknown) => e);
  t.ok(noPrompt instanceof OpenAI.BadRequestError);
  t.match((noPrompt as InstanceType<typeof OpenAI.BadRequestError>).error, { param: 'prompt' });
  const badN = await client.images.generate({ model: 'm', prompt: 'p', n: 11 }).catch((e: unknown) => e);
  t.match((badN as InstanceType<typeof OpenAI.BadRequestError>).error, { param: 'n' });
  t.ok((await client.images.generate({ model: 'sim/error500', prompt: 'p' }).catch((e: unknown) => e)) instanceof OpenAI.InternalServerError);
  t.ok((await client.images.generate({ model: 'sim/error429', prompt: 'p' }).catch((e: unknown) => e)) instanceof OpenAI.RateLimitError);
});

t.test('audio.speech.create read as bytes: size from the input or size=, content type per format', async (t) => {
  const wav = await client.audio.speech.create({ model: 'sim/echo', voice: 'alloy', input: 'hello', response_format: 'wav' });
  t.equal(wav.headers.get('content-type'), 'audio/wav');
  const bytes = Buffer.from(await wav.arrayBuffer());
  t.equal(bytes.length, 5 * SPEECH_BYTES_PER_CHAR);
  t.equal(bytes.toString('latin1', 0, 4), 'RIFF');
  t.equal(bytes.toString('latin1', 8, 12), 'WAVE');
  t.equal(bytes.readUInt32LE(40), bytes.length - 44, 'data chunk size');
  const mp3 = await client.audio.speech.create({ model: 'sim/echo;size=100000', voice: 'alloy', input: 'hi' });
  t.equal(mp3.headers.get('content-type'), 'audio/mpeg');
  t.equal((await mp3.arrayBuffer()).byteLength, 100000);
  const bad = await client.audio.speech.create({ model: 'm', voice: 'alloy', input: '' }).catch((e: unknown) => e);
  t.ok(bad instanceof OpenAI.BadRequestError);
  const err = await client.audio.speech.create({ model: 'sim/error503', voice: 'alloy', input: 'x' }).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.APIError && err.status === 503);
});

/** A raw node:http POST of JSON to the simulator; resolves once the response headers are in. */
function rawPost(path: string, body: unknown): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t.test('speech: a big body waits for a slow reader (backpressure), then completes', async (t) => {
  const size = 20 * 1024 * 1024;
  const model = `sim/echo;size=${size}`;
  const blocked = simEvent(sim, 'blocked', model);
  let completed = false;
  sim.on('complete', (e: { model: string }) => { if (e.model === model) completed = true; });
  const res = await rawPost('/audio/speech', { model, voice: 'alloy', input: 'x', response_format: 'pcm' });
  t.equal(res.headers['content-type'], 'audio/pcm');
  t.notOk(res.headers['content-length'], 'streamed (chunked), not collected');
  res.pause();
  await blocked;
  t.notOk(completed, 'blocked before the end');
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  res.resume();
  await once(res, 'end');
  t.equal(bytes, size);
});

t.test('speech: reset and close cut the body after `after` writes', async (t) => {
  const res = await rawPost('/audio/speech', { model: 'sim/reset;after=2;size=1000000', voice: 'a', input: 'x' });
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  await new Promise<void>((resolve) => {
    res.on('error', () => {});
    res.on('close', () => resolve());
  });
  t.notOk(res.complete, 'reset: incomplete');
  t.ok(bytes <= 2 * 16 * 1024);
  const closed = await rawPost('/audio/speech', { model: 'sim/close;after=1;size=1000000', voice: 'a', input: 'x' });
  let n = 0;
  closed.on('data', (c: Buffer) => (n += c.length));
  await once(closed, 'end');
  t.equal(n, 16 * 1024, 'close: a clean end after one write');
});

t.test('audio.transcriptions / translations with a real multipart upload', async (t) => {
  const audio = Buffer.alloc(32000, 7);
  const r = await client.audio.transcriptions.create({ model: 'sim/echo', file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }) });
  t.equal(r.text, 'Simulated transcription of clip.wav (32000 bytes).');
  const rec = sim.requests.at(-1);
  t.equal(rec?.path, '/v1/openai/audio/transcriptions');
  t.match(String(rec?.headers['content-type']), /^multipart\/form-data; boundary=/);
  const text = await client.audio.transcriptions.create({ model: 'openai/whisper-large-v3', file: await toFile(audio, 'a b "q".mp3'), response_format: 'text' });
  t.equal(text, 'Simulated transcription of a b "q".mp3 (32000 bytes).\n');
  const verbose = await client.audio.transcriptions.create({ model: 'm', file: await toFile(audio, 'v.wav'), response_format: 'verbose_json', language: 'fr' });
  t.match(verbose, { language: 'fr', duration: 2, text: String, segments: [{ id: 0 }] });
  const tr = await client.audio.translations.create({ model: 'm', file: await toFile(Buffer.from('abc'), 'x.ogg') });
  t.equal(tr.text, 'Simulated translation of x.ogg (3 bytes).');
  const limited = await client.audio.transcriptions.create({ model: 'sim/error429', file: await toFile(audio, 'c.wav') }).catch((e: unknown) => e);
  t.ok(limited instanceof OpenAI.RateLimitError);
});

t.test('transcriptions: malformed multipart and missing parts are OpenAI-shaped 400s', async (t) => {
  const post = (body: string | Buffer, type: string): Promise<Response> =>
    fetch(`${sim.baseUrl}/audio/transcriptions`, { method: 'POST', headers: { 'content-type': type }, body });
  const cases: Array<[string | Buffer, string, string | null, string]> = [
    ['{}', 'application/json', null, 'invalid_multipart'],
    ['--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nm', 'multipart/form-data; boundary=B', null, 'invalid_multipart'],
    ['garbage', 'multipart/form-data; boundary=B', null, 'invalid_multipart'],
    ['--B\r\nno headers end', 'multipart/form-data; boundary=B', null, 'invalid_multipart'],
    ['--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--B--\r\n', 'multipart/form-data; boundary=B', 'file', 'missing_required_parameter'],
    ['--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxx\r\n--B--\r\n', 'multipart/form-data; boundary=B', 'model', 'missing_required_parameter'],
  ];
  for (const [body, type, param, code] of cases) {
    const res = await post(body, type);
    t.equal(res.status, 400, `${type}: ${String(body).slice(0, 40)}`);
    t.equal(res.headers.get('content-type'), 'application/json');
    t.match(await res.json(), { error: { message: String, type: 'invalid_request_error', param, code } });
  }
});

t.test('multipart reader: quoted boundary, escaped filename, binary content with CRLF and dashes', async (t) => {
  t.equal(boundaryOf('multipart/form-data; boundary="a b"'), 'a b');
  t.equal(boundaryOf('Multipart/Form-Data;boundary=xyz; charset=utf-8'), 'xyz');
  t.equal(boundaryOf('multipart/mixed; boundary=x'), null);
  t.equal(boundaryOf(undefined), null);
  const bin = Buffer.from([0, 13, 10, 45, 45, 66, 255, 13, 10]);
  const body = Buffer.concat([
    Buffer.from('preamble\r\n--a b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--a b\r\n'),
    Buffer.from('Content-Disposition: form-data; name="file"; filename="we \\"x\\".wav"\r\nContent-Type: audio/wav\r\n\r\n'),
    bin,
    Buffer.from('\r\n--a b--\r\n'),
  ]);
  const r = parseMultipart(body, 'a b');
  if (!r.ok) throw new Error(r.message);
  t.equal(r.parts.length, 2);
  t.match(r.parts[0], { name: 'model', filename: undefined });
  t.equal(r.parts[0]?.data.toString(), 'whisper');
  t.match(r.parts[1], { name: 'file', filename: 'we "x".wav', contentType: 'audio/wav' });
  t.same([...(r.parts[1]?.data ?? [])], [...bin]);
  t.match(parseMultipart(Buffer.from('--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--'), 'x'), { ok: false, message: /name/ });
});
