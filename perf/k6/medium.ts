// Medium scenario: 500 concurrent users, mixed traffic (plain completions, short, 10 s and 120 s streams).
import type { Options } from 'k6/options';
import { mixed } from './lib/chat.ts';
import { envNum, rampHold, thresholds } from './lib/options.ts';

export const options: Options = {
  scenarios: rampHold(envNum('VUS', 500), '1m', '3m', '150s'),
  thresholds: thresholds(0),
};

export default mixed;
