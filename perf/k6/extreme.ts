// Extreme scenario: 2000+ concurrent users (VUS), mixed traffic; shedding is allowed, failures are not.
import type { Options } from 'k6/options';
import { mixed } from './lib/chat.ts';
import { envNum, rampHold, thresholds } from './lib/options.ts';

export const options: Options = {
  scenarios: rampHold(envNum('VUS', 2000), '2m', '5m', '150s'),
  // Past capacity the service must answer 200 or a fast 503, never an error or a timeout.
  thresholds: thresholds(1),
};

export default mixed;
