// Heavy scenario: 1000 concurrent users each holding a long answer (~120 s stream).
import type { Options } from 'k6/options';
import { chat } from './lib/chat.ts';
import { PROFILES, envNum, rampHold, thresholds } from './lib/options.ts';

export const options: Options = {
  // A 1000-slot instance sheds past 900 (SHED_THRESHOLD 0.9): size the target, or raise MAX_SHED_RATE.
  scenarios: rampHold(envNum('VUS', 1000), '2m', '5m', '150s'),
  thresholds: thresholds(0.01),
};

export default function (): void {
  chat(PROFILES.heavy, true);
}
