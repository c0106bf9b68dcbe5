// Light scenario: 100 concurrent users asking short questions over streams (guide: "simple Q&A").
import type { Options } from 'k6/options';
import { chat } from './lib/chat.ts';
import { PROFILES, envNum, rampHold, thresholds } from './lib/options.ts';

export const options: Options = {
  scenarios: rampHold(envNum('VUS', 100), '30s', '2m'),
  thresholds: thresholds(0),
};

export default function (): void {
  chat(PROFILES.short, true);
}
