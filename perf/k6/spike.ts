// Spike test: jump from BASE_VUS to SPIKE_VUS (set it well past 0.9 × MAX_CONCURRENT_CONNECTIONS);
// every answer must be a 200 that completes or a fast, OpenAI-shaped 503 with Retry-After.
import type { Options } from 'k6/options';
import { chat } from './lib/chat.ts';
import { PROFILES, envNum, thresholds } from './lib/options.ts';

const base = envNum('BASE_VUS', 100);
const spike = envNum('SPIKE_VUS', 3000);

export const options: Options = {
  scenarios: {
    spike: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '20s', target: base },
        { duration: '30s', target: base },
        { duration: '10s', target: spike }, // the spike
        { duration: '1m', target: spike },
        { duration: '10s', target: base }, // recovery
        { duration: '30s', target: base },
        { duration: '10s', target: 0 },
      ],
      gracefulRampDown: '30s',
      gracefulStop: '30s',
    },
  },
  thresholds: {
    ...thresholds(1),
    http_req_failed: ['rate<0.001'], // nothing but 200 and 503
    checks: ['rate>0.999'],
    shed_503: ['rate>0'], // proves the spike went past the shed threshold
  },
};

export default function (): void {
  chat(PROFILES.light, true); // ~10 s streams keep the slots held
}
