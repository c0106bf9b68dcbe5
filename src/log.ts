// The only place pino is built: JSON lines, redaction, and the one line logged per request.
import { pino, destination as pinoDestination, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths that may hold secrets if a caller ever logs a raw object; they are censored. */
const REDACT = [
  'key', 'apiKey', 'authorization', 'headers.authorization', 'req.headers.authorization',
  'config.VALID_API_KEYS', 'config.DEEPINFRA_API_KEY', 'config.STATUS_TOKEN',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pinoDestination({ sync: false }),
  );
}

/** The fields of the single per-request log line (CONTRACT §7). */
export interface RequestLogLine {
  req_id: string;
  route: string;
  key_id: string | null;
  model: string | null;
  stream: boolean;
  status: number;
  outcome: string;
  code: string | null;
  duration_ms: number;
  ttfb_ms: number | null;
  bytes: number;
  events: number;
  mirror: number | null;
  attempts: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /** Only with the opt-ins: prompt (LOG_USER_MESSAGES), completion (LOG_RESPONSE_CONTENT), params, client (ENABLE_DETAILED_LOGGING). */
  [optIn: string]: unknown;
}

export function logRequest(log: Logger, level: 'debug' | 'info' | 'warn' | 'error', line: RequestLogLine): void {
  log[level](line, 'request');
}
