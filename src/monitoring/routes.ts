// The monitoring routes: /status, /metrics (when ENABLE_METRICS), /dashboard and /dashboard/events.
import type { ServiceState } from '../state.js';
import type { ExtraRoutes, PlainHandler } from '../http/server.js';
import { send, sendError } from '../http/respond.js';
import type { Metrics } from './metrics.js';
import type { Monitor } from './monitor.js';
import { statusDocument } from './status.js';
import { dashboardEvents, dashboardPage } from './dashboard.js';

export function monitoringRoutes(s: ServiceState, monitor: Monitor, metrics: Metrics | null): ExtraRoutes {
  const routes: Record<string, PlainHandler> = {
    '/status': (res, _req, ctx) => send(res, ctx, 200, 'application/json', JSON.stringify(statusDocument(s, monitor))),
    '/dashboard': dashboardPage(),
    '/dashboard/events': dashboardEvents(s, monitor),
  };
  if (metrics) routes['/metrics'] = metricsRoute(s, metrics);
  return routes;
}

function metricsRoute(s: ServiceState, metrics: Metrics): PlainHandler {
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
