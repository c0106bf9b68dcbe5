// Micro-benchmark of the worker hot path: SseFramer (+ inspectEvent) over 100k chat chunks in 16 KiB reads.
import { SseFramer } from '../workers/sse-framer.js';
import { inspectData } from '../workers/inspect.js';

const EVENTS = 100_000;
const READ = 16 * 1024;
const ascii = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' big', ' lazy', ' dog.'];
const mixed = ['The', ' quick', ' brown', ' fox', ' jumps', ' über', ' 中文', ' 😀', ' lazy', ' dog.'];

/** 100k chat chunks as one upstream body, cut into 16 KiB reads. */
function workload(words: string[]): { reads: Buffer[]; bytesPerEvent: number } {
  let text = '';
  for (let i = 0; i < EVENTS; i++) {
    const chunk = {
      id: 'chatcmpl-8f3a2b1c9d0e4f5a6b7c8d9e', object: 'chat.completion.chunk', created: 1735000000 + (i >> 6),
      model: 'deepseek-ai/DeepSeek-V3', system_fingerprint: null,
      choices: [{ index: 0, delta: { role: 'assistant', content: words[i % words.length] }, logprobs: null, finish_reason: null }],
      usage: null,
    };
    text += `data: ${JSON.stringify(chunk)}\n\n`;
  }
  const all = Buffer.from(text, 'utf8');
  const reads: Buffer[] = [];
  for (let off = 0; off < all.length; off += READ) reads.push(all.subarray(off, off + READ));
  return { reads, bytesPerEvent: all.length / EVENTS };
}

function once(reads: Buffer[], inspect: boolean): number {
  const f = new SseFramer(1 << 20);
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (const r of reads) {
    const evs = f.push(r);
    n += evs.length;
    if (inspect) for (const e of evs) if (inspectData(e.data).kind !== 'chunk') throw new Error('unexpected kind');
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (n !== EVENTS) throw new Error(`framed ${n} events, expected ${EVENTS}`);
  return ns / n;
}

const best = (reads: Buffer[], inspect: boolean): string => {
  let b = Infinity;
  for (let i = 0; i < 7; i++) b = Math.min(b, once(reads, inspect));
  return b.toFixed(0).padStart(5);
};
console.log(`${EVENTS} events in ${READ} B reads, best of 7 (node ${process.version})`);
for (const [name, words] of [['ascii', ascii], ['utf-8', mixed]] as const) {
  const { reads, bytesPerEvent } = workload(words);
  console.log(`${name} content, ${bytesPerEvent.toFixed(0)} B/event: framer ${best(reads, false)} ns/event,`
    + ` framer + inspect ${best(reads, true)} ns/event`);
}
