// The scenario registry, in the order the default run uses (soak and slowread run only when named).
import { events } from './events.js';
import { leave } from './leave.js';
import { nonstream } from './nonstream.js';
import { paced } from './paced.js';
import { slowclient } from './slowclient.js';
import { slowread } from './slowread.js';
import { soak } from './soak.js';
import { stream22 } from './stream22.js';
import type { Scenario } from './types.js';

export const SCENARIOS: readonly Scenario[] = [nonstream, stream22, events, paced, slowclient, leave, soak, slowread];
