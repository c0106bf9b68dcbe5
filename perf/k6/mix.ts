// The guide's user mix: USERS concurrent, 80 % light users (~10 s streams), 20 % heavy (~120 s).
import type { Options } from 'k6/options';
import { chat } from './lib/chat.ts';
import { PROFILES, env, envNum, thresholds } from './lib/options.ts';

const users = envNum('USERS', 1000);
const heavyShare = envNum('HEAVY_SHARE', 0.2);
const duration = env('DURATION', '10m');

export const options: Options = {
  scenarios: {
    light_users: { executor: 'constant-vus', vus: Math.round(users * (1 - heavyShare)), duration,
      exec: 'lightUser', gracefulStop: '30s' },
    heavy_users: { executor: 'constant-vus', vus: Math.round(users * heavyShare), duration,
      exec: 'heavyUser', gracefulStop: '150s' },
  },
  thresholds: thresholds(0.01),
};

export function lightUser(): void {
  chat(PROFILES.light, true);
}

export function heavyUser(): void {
  chat(PROFILES.heavy, true);
}
