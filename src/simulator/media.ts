// The media POST routes: images/generations (JSON), audio/speech (a binary body streamed with backpressure) and
// audio/transcriptions|translations (multipart uploads). Same model grammar and early behaviours as chat.
import zlib from 'node:zlib';
import { errorBody } from './bodies.js';
import { answeredEarly, sendBody } from './handlers.js';
import { boundaryOf, field, parseMultipart, type FormPart } from './multipart.js';
import { mulberry32 } from './prng.js';
import { parseModel, type SimSpec } from './spec.js';
import { Writer, type Exchange, type WriterHooks } from './writer.js';

export type MediaRoute = 'images' | 'speech' | 'transcriptions' | 'translations';

export const MEDIA_ROUTES: Readonly<Record<string, MediaRoute>> = {
  '/images/generations': 'images',
  '/audio/speech': 'speech',
  '/audio/transcriptions': 'transcriptions',
  '/audio/translations': 'translations',
};

export interface MediaContext {
  x: Exchange;
  route: MediaRoute;
  body: Buffer;
  contentType: string | undefined;
  requestId: number;
  hooks: WriterHooks;
  countModel(model: string): number;
}

/** Bytes of simulated audio per character of speech input (about 1/16 s of 16 kHz 8-bit mono). */
export const SPEECH_BYTES_PER_CHAR = 1000;
/** Size of each write of a speech body. */
export const SPEECH_CHUNK = 16 * 1024;
const MAX_IMAGE_SIDE = 1024;
const SPEECH_TYPES: Readonly<Record<string, string>> = {
  mp3: 'audio/mpeg', opus: 'audio/opus', aac: 'audio/aac', flac: 'audio/flac', wav: 'audio/wav', pcm: 'audio/pcm',
};

const bad = (x: Exchange, hooks: WriterHooks, message: string, param: string | null, code = 'invalid_value'): Promise<void> =>
  sendBody(x, hooks, 400, errorBody(message, 'invalid_request_error', code, param));

function parseJson(buf: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Answers one media POST. Throws ClientGone if the client leaves mid-way. */
export async function handleMedia(ctx: MediaContext): Promise<void> {
  const { x, hooks } = ctx;
  let fields: Record<string, unknown>;
  let file: FormPart | undefined;
  if (ctx.route === 'images' || ctx.route === 'speech') {
    const json = parseJson(ctx.body);
    if (!json) return bad(x, hooks, 'We could not parse the JSON body of your request.', null, 'invalid_json');
    fields = json;
  } else {
    const boundary = boundaryOf(ctx.contentType);
    if (boundary === null) return bad(x, hooks, 'The request must be multipart/form-data with a boundary.', null, 'invalid_multipart');
    const form = parseMultipart(ctx.body, boundary);
    if (!form.ok) return bad(x, hooks, form.message, null, 'invalid_multipart');
    fields = Object.fromEntries(form.parts.filter((p) => p.filename === undefined).map((p) => [p.name, p.data.toString('utf8')]));
    file = form.parts.find((p) => p.name === 'file' && p.filename !== undefined);
    if (field(form.parts, 'model') === undefined) return bad(x, hooks, "Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
    if (file === undefined) return bad(x, hooks, "Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  }
  const spec = parseModel(fields['model']);
  x.model = spec.model;
  if (await answeredEarly(x, hooks, spec, ctx.countModel(spec.model))) return;
  if (ctx.route !== 'speech' && spec.behaviour === 'reset') return new Writer(x, hooks).reset();
  if (ctx.route !== 'speech' && spec.behaviour === 'stall') return x.closed;
  switch (ctx.route) {
    case 'images':
      return images(ctx, spec, fields);
    case 'speech':
      return speech(ctx, spec, fields);
    default:
      return transcribe(ctx, fields, file as FormPart);
  }
}

async function images(ctx: MediaContext, spec: SimSpec, body: Record<string, unknown>): Promise<void> {
  const { x, hooks } = ctx;
  const prompt = body['prompt'];
  if (typeof prompt !== 'string' || prompt === '') return bad(x, hooks, "Missing required parameter: 'prompt'.", 'prompt');
  const n = body['n'] ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10) return bad(x, hooks, "Invalid value for 'n': an integer from 1 to 10.", 'n');
  const format = body['response_format'] ?? 'b64_json';
  if (format !== 'b64_json' && format !== 'url') return bad(x, hooks, "Invalid value for 'response_format': 'url' or 'b64_json'.", 'response_format');
  const m = typeof body['size'] === 'string' ? /^(\d{1,4})x(\d{1,4})$/.exec(body['size']) : null;
  const side = (v: string | undefined): number => Math.min(MAX_IMAGE_SIDE, Math.max(1, Number(v ?? 64)));
  const [w, h] = [side(m?.[1]), side(m?.[2])];
  const data = Array.from({ length: n }, (_, i) => format === 'url'
    ? { url: `https://images.sim.invalid/${ctx.requestId}-${i}.png`, revised_prompt: prompt }
    : { b64_json: solidPng(w, h, spec.opts.seed + i + prompt.length).toString('base64'), revised_prompt: prompt });
  return sendBody(x, hooks, 200, JSON.stringify({ created: Math.floor(Date.now() / 1000), data }), { spec, gzip: spec.behaviour === 'gzip' });
}

/** A valid PNG of one colour (8-bit RGB), the colour chosen by `seed`. */
export function solidPng(w: number, h: number, seed: number): Buffer {
  const rand = mulberry32(seed);
  const rgb = [0, 1, 2].map(() => Math.floor(rand() * 256));
  const row = Buffer.alloc(1 + w * 3);
  for (let i = 0; i < w; i++) row.set(rgb, 1 + i * 3);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The speech body: `size` bytes when the model says so, else SPEECH_BYTES_PER_CHAR per input character. A WAV
 * (header + 16 kHz 8-bit PCM tone) for wav, raw tone bytes otherwise (the content type follows response_format;
 * other formats are not decodable audio). Chunked, SPEECH_CHUNK per write, each waiting for drain;
 * `interval` ms between writes; reset / stall / close act after `after` writes.
 */
async function speech(ctx: MediaContext, spec: SimSpec, body: Record<string, unknown>): Promise<void> {
  const { x, hooks } = ctx;
  const input = body['input'];
  if (typeof input !== 'string' || input === '') return bad(x, hooks, "Missing required parameter: 'input'.", 'input');
  const format = body['response_format'] ?? 'mp3';
  const type = typeof format === 'string' ? SPEECH_TYPES[format] : undefined;
  if (type === undefined) return bad(x, hooks, `Invalid value for 'response_format': one of ${Object.keys(SPEECH_TYPES).join(', ')}.`, 'response_format');
  const { behaviour, opts } = spec;
  const total = Math.max(format === 'wav' ? 44 : 1, opts.size ?? Buffer.byteLength(input) * SPEECH_BYTES_PER_CHAR);
  x.res.writeHead(200, { 'content-type': type, 'x-sim-audio-bytes': String(total) });
  const w = new Writer(x, hooks);
  const failing = behaviour === 'reset' || behaviour === 'stall' || behaviour === 'close';
  let sent = 0;
  for (let k = 0; sent < total; k++) {
    if (failing && k >= opts.after) break;
    if (k > 0) await x.pause(opts.interval);
    const n = Math.min(SPEECH_CHUNK, total - sent);
    await w.bytes(audioBytes(sent, n, format === 'wav' ? total : -1));
    x.eventsSent++;
    sent += n;
  }
  if (failing && sent < total) {
    if (behaviour === 'reset') {
      await w.flushed();
      return w.reset();
    }
    if (behaviour === 'stall') return x.closed;
  }
  await w.end();
}

/** One write's worth of the tone (period 32 bytes; SPEECH_CHUNK is a multiple of it): shared, never mutated. */
const TONE = Buffer.from(Array.from({ length: SPEECH_CHUNK }, (_, i) => ((i >> 4) & 1 ? 168 : 88)));

/** Bytes [from, from+n) of the audio (from a multiple of SPEECH_CHUNK): the tone, behind a 44-byte WAV header
 * when `wavTotal` >= 0. */
function audioBytes(from: number, n: number, wavTotal: number): Buffer {
  if (wavTotal < 0 || from >= 44) return TONE.subarray(0, n);
  const b = Buffer.from(TONE.subarray(0, n));
  {
    const head = Buffer.alloc(44);
    head.write('RIFF', 0, 'latin1');
    head.writeUInt32LE(wavTotal - 8, 4);
    head.write('WAVEfmt ', 8, 'latin1');
    head.writeUInt32LE(16, 16);
    head.writeUInt16LE(1, 20); // PCM
    head.writeUInt16LE(1, 22); // mono
    head.writeUInt32LE(16000, 24);
    head.writeUInt32LE(16000, 28);
    head.writeUInt16LE(1, 32);
    head.writeUInt16LE(8, 34);
    head.write('data', 36, 'latin1');
    head.writeUInt32LE(wavTotal - 44, 40);
    head.copy(b, 0, from, Math.min(44, from + n));
  }
  return b;
}

async function transcribe(ctx: MediaContext, fields: Record<string, unknown>, file: FormPart): Promise<void> {
  const { x, hooks } = ctx;
  const verb = ctx.route === 'translations' ? 'translation' : 'transcription';
  const text = `Simulated ${verb} of ${file.filename || 'the upload'} (${file.data.length} bytes).`;
  const format = fields['response_format'] ?? 'json';
  const seconds = Math.max(1, Math.round(file.data.length / 16000));
  switch (format) {
    case 'json':
      return sendBody(x, hooks, 200, JSON.stringify({ text }));
    case 'text':
      return sendBody(x, hooks, 200, `${text}\n`, { type: 'text/plain; charset=utf-8' });
    case 'srt':
      return sendBody(x, hooks, 200, `1\n00:00:00,000 --> 00:00:0${Math.min(seconds, 9)},000\n${text}\n\n`, { type: 'text/plain; charset=utf-8' });
    case 'vtt':
      return sendBody(x, hooks, 200, `WEBVTT\n\n00:00:00.000 --> 00:00:0${Math.min(seconds, 9)}.000\n${text}\n\n`, { type: 'text/plain; charset=utf-8' });
    case 'verbose_json': {
      const language = typeof fields['language'] === 'string' && verb === 'transcription' ? fields['language'] : 'english';
      const segments = [{ id: 0, seek: 0, start: 0, end: seconds, text, tokens: [], temperature: 0, avg_logprob: -0.1, compression_ratio: 1, no_speech_prob: 0 }];
      return sendBody(x, hooks, 200, JSON.stringify({ task: verb === 'translation' ? 'translate' : 'transcribe', language, duration: seconds, text, segments }));
    }
    default:
      return bad(x, hooks, "Invalid value for 'response_format': one of json, text, srt, verbose_json, vtt.", 'response_format');
  }
}
