// The multipart uploads (audio transcriptions/translations) as the worker sees them: the boundary, the parts found
// by their delimiters (a native search; the file's bytes are never copied or decoded), the `model` field rewritten.

/** The boundary of a `multipart/form-data; boundary=…` content type (RFC 2046: 1-70 characters), or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  if (contentType === undefined || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"\r\n]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

export interface UploadParts {
  readonly ok: true;
  /** The `model` field's value and where its bytes lie (null: no such field). */
  readonly model: { readonly value: string; readonly start: number; readonly end: number } | null;
  /** A part named `file` with a filename. */
  readonly hasFile: boolean;
}
export type UploadScan = UploadParts | { readonly ok: false; readonly message: string };

const MAX_PARTS = 1000;
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_FIELD = 4096;

/** Walks the parts of a whole multipart body by its delimiters; malformed framing is reported, never thrown. */
export function scanUpload(body: Buffer, boundary: string): UploadScan {
  const dash = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  // the first delimiter opens the body, or ends a preamble on a line of its own
  const first = body.subarray(0, dash.length).equals(dash) ? 0 : body.indexOf(delim);
  if (first < 0) return bad('The multipart body does not start with its boundary.');
  let pos = first + (first === 0 ? dash.length : delim.length);
  let model: UploadParts['model'] = null;
  let hasFile = false;
  for (let n = 0; n <= MAX_PARTS; n++) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return { ok: true, model, hasFile }; // `--`: the closing delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return bad('Malformed multipart boundary line.');
    pos += 2;
    const headEnd = body.indexOf(HEADER_END, pos);
    if (headEnd < 0 || headEnd - pos > 16 * 1024) return bad('A multipart part has no end of headers.');
    const end = body.indexOf(delim, headEnd + 4);
    if (end < 0) return bad('The multipart body has no closing boundary.');
    const disposition = dispositionOf(body.toString('utf8', pos, headEnd));
    if (disposition === null) return bad('A multipart part has no Content-Disposition name.');
    const start = headEnd + 4;
    if (disposition.name === 'model' && disposition.filename === undefined && end - start <= MAX_FIELD) {
      model = { value: body.toString('utf8', start, end), start, end };
    }
    if (disposition.name === 'file' && disposition.filename !== undefined) hasFile = true;
    pos = end + delim.length;
  }
  return bad('Too many multipart parts.');
}

function bad(message: string): UploadScan {
  return { ok: false, message };
}

/** The name and filename of a part's Content-Disposition (form-data), or null. */
function dispositionOf(head: string): { name: string; filename: string | undefined } | null {
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1).trim();
    if (!/^form-data\s*(;|$)/i.test(value)) return null;
    const name = param(value, 'name');
    return name === undefined ? null : { name, filename: param(value, 'filename') };
  }
  return null;
}

/** A `key="value"` (or bare `key=value`) parameter; quoted values may escape `"` and `\` with a backslash. */
function param(value: string, key: string): string | undefined {
  const m = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(value);
  if (!m) return undefined;
  return m[1] === undefined ? m[2] : m[1].replace(/\\(.)/g, '$1');
}

/** The body with the bytes [start, end) (a field's value) replaced by `value`. */
export function replaceField(body: Buffer, start: number, end: number, value: string): Buffer {
  return Buffer.concat([body.subarray(0, start), Buffer.from(value, 'utf8'), body.subarray(end)]);
}
