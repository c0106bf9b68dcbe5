// The monitoring routes mounted beside /status: /metrics (when ENABLE_METRICS), /dashboard and /dashboard/events.
import type { ServiceState } from '../state.js';
import type { ExtraRoutes, PlainHandler } from '../http/server.js';
import { send, sendError } from '../http/respond.js';
import { metricsFor } from './metrics.js';
import { monitorFor } from './monitor.js';
import { dashboardEvents, dashboardPage } from './dashboard.js';

export function monitoringRoutes(s: ServiceState): ExtraRoutes {
  monitorFor(s); // alerts are evaluated (and logged) from the start, not from the first /status
  const routes: Record<string, { GET: PlainHandler; statusAuth: boolean }> = {
    '/dashboard': { GET: dashboardPage(), statusAuth: true },
    '/dashboard/events': { GET: dashboardEvents(s), statusAuth: true },
  };
  if (s.config.ENABLE_METRICS) routes['/metrics'] = { GET: metricsRoute(s), statusAuth: true };
  return routes;
}

function metricsRoute(s: ServiceState): PlainHandler {
  const metrics = metricsFor(s);
  return (res, _req, ctx) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics.text().then(
      (body) => {
        if (!aborted) send(res, ctx, 200, metrics.contentType, body, { 'cache-control': 'no-store' });
      },
      (e: unknown) => {
        s.log.error({ err: e instanceof Error ? e.message : String(e) }, 'metrics collection failed');
        if (!aborted) sendError(res, ctx, 'internal_error', 500);
      },
    );
  };
}
