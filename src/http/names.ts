// Header names and fixed header values as bytes: uWS reads bytes in place, where a JS string is converted to UTF-8 on every call.
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Request headers the router reads (uWS's getHeader takes the lower-case name). */
export const REQ = {
  authorization: bytes('authorization'),
  contentLength: bytes('content-length'),
  contentType: bytes('content-type'),
  origin: bytes('origin'),
  requestId: bytes('x-request-id'),
  traceparent: bytes('traceparent'),
  transferEncoding: bytes('transfer-encoding'),
  userAgent: bytes('user-agent'),
} as const;

/** Response header names and the fixed values written with them. */
export const RES = {
  accessControlAllowOrigin: bytes('access-control-allow-origin'),
  accessControlExposeHeaders: bytes('access-control-expose-headers'),
  cacheControl: bytes('cache-control'),
  connection: bytes('connection'),
  contentType: bytes('content-type'),
  requestId: bytes('x-request-id'),
  vary: bytes('vary'),
  xAccelBuffering: bytes('x-accel-buffering'),
  close: bytes('close'),
  eventStream: bytes('text/event-stream; charset=utf-8'),
  exposed: bytes('x-request-id, retry-after, retry-after-ms'),
  no: bytes('no'),
  noCache: bytes('no-cache'),
  origin: bytes('Origin'),
} as const;
