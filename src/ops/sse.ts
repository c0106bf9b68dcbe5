// A small SSE reader over a fetch body: yields each event's data (comments and other fields skipped).
import { StringDecoder } from 'node:string_decoder';

/** Yields the `data` of every event (multi-line data joined with "\n"), in order; CRLF, CR and LF all end lines. */
export async function* sseData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let data: string[] = [];
  let pendingCr = false;
  const lines = function* (text: string): Generator<string | null> {
    // null marks the end of an event (an empty line).
    buf += text;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const ch = buf[i];
      if (ch !== '\n' && ch !== '\r') continue;
      if (ch === '\n' && pendingCr && i === start) {
        pendingCr = false;
        start = i + 1;
        continue;
      }
      pendingCr = ch === '\r';
      const line = buf.slice(start, i);
      start = i + 1;
      yield line === '' ? null : line;
    }
    buf = buf.slice(start);
  };
  const handle = (line: string | null): string | undefined => {
    if (line === null) {
      if (data.length === 0) return undefined;
      const ev = data.join('\n');
      data = [];
      return ev;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    return undefined;
  };
  for await (const chunk of body) {
    for (const line of lines(decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))) {
      const ev = handle(line);
      if (ev !== undefined) yield ev;
    }
  }
  // An event not closed by an empty line before EOF is dropped (as EventSource does).
  for (const line of lines(decoder.end())) {
    const ev = handle(line);
    if (ev !== undefined) yield ev;
  }
}
