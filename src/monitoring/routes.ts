// The monitoring routes mounted beside /status: /metrics and /dashboard (placeholder until monitoring lands).
import type { ServiceState } from '../state.js';
import type { ExtraRoutes } from '../http/server.js';

export function monitoringRoutes(_s: ServiceState): ExtraRoutes {
  return {};
}
