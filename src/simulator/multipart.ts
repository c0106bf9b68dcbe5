// A small multipart/form-data reader (RFC 7578) for the simulated audio uploads: parts with name, filename and bytes.

export interface FormPart {
  name: string;
  /** Present for file parts (possibly ''). */
  filename: string | undefined;
  contentType: string | undefined;
  data: Buffer;
}

export type FormResult = { ok: true; parts: FormPart[] } | { ok: false; message: string };

const MAX_PARTS = 200;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary of a `multipart/form-data; boundary=…` content type, or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  if (contentType === undefined || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Splits a whole multipart body. Malformed input (no opening or closing delimiter, a part without headers or
 * without a name) is reported, never thrown. */
export function parseMultipart(body: Buffer, boundary: string): FormResult {
  const dash = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  let pos = body.indexOf(dash);
  if (pos !== 0 && (pos < 0 || body.subarray(pos - 2, pos).compare(CRLF) !== 0)) {
    return { ok: false, message: 'The multipart body does not start with its boundary.' };
  }
  pos += dash.length;
  const parts: FormPart[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return { ok: true, parts }; // `--`: the closing delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return { ok: false, message: 'Malformed multipart boundary line.' };
    pos += 2;
    const headEnd = body.indexOf(HEADER_END, pos);
    if (headEnd < 0) return { ok: false, message: 'A multipart part has no end of headers.' };
    const end = body.indexOf(delim, headEnd + 4);
    if (end < 0) return { ok: false, message: 'The multipart body has no closing boundary.' };
    const part = partOf(body.subarray(pos, headEnd).toString('utf8'), body.subarray(headEnd + 4, end));
    if (part === null) return { ok: false, message: 'A multipart part has no Content-Disposition name.' };
    if (parts.push(part) > MAX_PARTS) return { ok: false, message: 'Too many multipart parts.' };
    pos = end + delim.length;
  }
}

function partOf(head: string, data: Buffer): FormPart | null {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-type') contentType = value;
    if (key !== 'content-disposition' || !/^form-data\s*(;|$)/i.test(value)) continue;
    name = param(value, 'name');
    filename = param(value, 'filename');
  }
  return name === undefined ? null : { name, filename, contentType, data };
}

/** A `key="value"` (or bare `key=value`) parameter of a header value. Quoted values may escape `"` and `\`
 * with a backslash, or carry the percent escapes browsers and undici use (%22, %0D, %0A). */
function param(value: string, key: string): string | undefined {
  const re = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i');
  const m = re.exec(value);
  if (!m) return undefined;
  if (m[1] === undefined) return m[2];
  return m[1].replace(/\\(.)/g, '$1').replace(/%(22|0D|0A)/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The text value of the first field called `name` (undefined when absent). */
export function field(parts: readonly FormPart[], name: string): string | undefined {
  const p = parts.find((x) => x.name === name && x.filename === undefined);
  return p === undefined ? undefined : p.data.toString('utf8');
}
