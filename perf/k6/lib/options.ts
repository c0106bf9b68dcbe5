// Shared settings for every k6 script: target, key, model/answer profiles, thresholds, small helpers.
import type { Options } from 'k6/options';

const env = (name: string, fallback: string): string => {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
};
export const envNum = (name: string, fallback: number): number => {
  const n = Number(env(name, String(fallback)));
  return Number.isFinite(n) ? n : fallback;
};

export const BASE_URL = env('BASE_URL', 'http://localhost:8000').replace(/\/+$/, '');
export const API_KEY = env('API_KEY', 'linux.do');
export const STATUS_TOKEN = env('STATUS_TOKEN', '');
export const SIM = env('SIM', '0') === '1';
const MODEL = env('MODEL', '');
const REAL_MODEL = 'meta-llama/Meta-Llama-3.1-8B-Instruct';

/** Answer shapes. `seconds` is the intended stream length (exact with SIM=1: tokens × interval ms). */
export interface Profile {
  name: 'short' | 'light' | 'heavy';
  seconds: number;
  tokens: number;
  intervalMs: number;
  maxTokens: number;
  prompt: string;
}
export const PROFILES: Record<Profile['name'], Profile> = {
  // simple Q&A: about half a second of answer
  short: { name: 'short', seconds: 0.5, tokens: 20, intervalMs: 25, maxTokens: 64,
    prompt: 'In one sentence: what is the capital of France?' },
  // the guide's light user: holds a stream ~10 s
  light: { name: 'light', seconds: 10, tokens: 100, intervalMs: 100, maxTokens: 512,
    prompt: 'Explain in about 300 words how HTTP keep-alive works.' },
  // the guide's heavy user / long answer: holds a stream ~120 s
  heavy: { name: 'heavy', seconds: 120, tokens: 1200, intervalMs: 100, maxTokens: 4096,
    prompt: 'Write a detailed 2500-word technical essay on the history of TCP congestion control.' },
};

/** Model for a profile: MODEL if set; else, with SIM=1, a simulator model paced to the profile. */
export function modelFor(p: Profile): string {
  if (MODEL !== '') return MODEL;
  if (SIM) return `sim/echo;tokens=${p.tokens};interval=${p.intervalMs}`;
  return REAL_MODEL;
}

export const chatHeaders = {
  'Content-Type': 'application/json',
  Authorization: `Bearer ${API_KEY}`,
};
export const statusHeaders: Record<string, string> =
  STATUS_TOKEN === '' ? {} : { Authorization: `Bearer ${STATUS_TOKEN}` };

/** Thresholds every load script shares; `maxShed` is the tolerated share of 503s. */
export function thresholds(maxShed: number): NonNullable<Options['thresholds']> {
  return {
    http_req_failed: ['rate<0.01'], // 503 is excluded (expected status) and gated by shed_503
    checks: ['rate>0.99'],
    stream_completed: ['rate>0.99'],
    ttfb_stream: [`p(95)<${envNum('TTFB_P95_MS', 2000)}`, `p(99)<${envNum('TTFB_P99_MS', 5000)}`],
    'http_req_duration{kind:nonstream}': [`p(95)<${envNum('NONSTREAM_P95_MS', 5000)}`],
    shed_503: [`rate<=${envNum('MAX_SHED_RATE', maxShed)}`],
    shed_latency: [`p(99)<${envNum('SHED_P99_MS', 100)}`],
  };
}

/** Ramp up to `vus` over `rampUp`, hold for DURATION (env, default `hold`), ramp down; `grace` lets
 * streams in flight finish (k6 cuts them after it). */
export function rampHold(vus: number, rampUp: string, hold: string, grace = '30s'): Options['scenarios'] {
  return {
    load: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: rampUp, target: vus },
        { duration: env('DURATION', hold), target: vus },
        { duration: '15s', target: 0 },
      ],
      gracefulRampDown: grace,
      gracefulStop: grace,
    },
  };
}

/** '90s', '30m', '1h30m', '500ms' → milliseconds. */
export function durationMs(text: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    total += Number(m[1]) * unit;
  }
  if (total === 0) throw new Error(`cannot read duration "${text}" (use e.g. 90s, 30m, 1h30m)`);
  return total;
}

export { env };
