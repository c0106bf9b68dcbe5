// /dashboard and /dashboard/events: the live page and its server-sent stream of status snapshots (one a second).
import type { HttpResponse } from '../http/uws.js';
import type { PlainHandler } from '../http/server.js';
import { send, sendError } from '../http/respond.js';
import { writeSseHead } from '../http/sse.js';
import type { ServiceState } from '../state.js';
import { statusDocument } from './status.js';
import type { Monitor } from './monitor.js';
import { DASHBOARD_HTML } from './dashboard-page.js';

/** Dashboards open at once per service; more get a 503 (monitoring must stay cheap). */
export const MAX_DASHBOARD_CLIENTS = 32;

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer', // the page may carry ?token=
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
} as const;

export function dashboardPage(): PlainHandler {
  return (res, _req, ctx) => send(res, ctx, 200, 'text/html; charset=utf-8', DASHBOARD_HTML, PAGE_HEADERS);
}

interface Client {
  readonly res: HttpResponse;
  /** Output not yet drained: snapshots are skipped (never queued) until uWS says it is writable. */
  blocked: boolean;
}

/** The SSE fan-out: one subscription to the monitor while any client is connected, one JSON per tick for all. */
class Broadcast {
  readonly clients = new Set<Client>();
  #unsubscribe: (() => void) | null = null;

  constructor(
    private readonly s: ServiceState,
    private readonly monitor: Monitor,
  ) {}

  add(c: Client): void {
    this.clients.add(c);
    this.#unsubscribe ??= this.monitor.subscribe(() => this.#tick());
  }

  remove(c: Client): void {
    this.clients.delete(c);
    if (this.clients.size === 0 && this.#unsubscribe) {
      this.#unsubscribe();
      this.#unsubscribe = null;
    }
  }

  snapshot(): string {
    const point = this.monitor.history.at(-1) ?? null;
    return `event: status\ndata: ${JSON.stringify({ point, status: statusDocument(this.s, this.monitor) })}\n\n`;
  }

  #tick(): void {
    if (this.monitor.stopped || this.s.admission.draining) {
      for (const c of [...this.clients]) {
        this.remove(c);
        c.res.cork(() => c.res.end());
      }
      return;
    }
    if (this.clients.size === 0) return;
    const frame = this.snapshot();
    for (const c of this.clients) {
      if (c.blocked) continue;
      c.res.cork(() => {
        if (!c.res.write(frame)) c.blocked = true;
      });
    }
  }
}

export function dashboardEvents(s: ServiceState, monitor: Monitor): PlainHandler {
  const hub = new Broadcast(s, monitor);
  return (res, _req, ctx) => {
    if (s.admission.draining || monitor.stopped) return sendError(res, ctx, 'draining', 503, { retryAfter: true });
    if (hub.clients.size >= MAX_DASHBOARD_CLIENTS) {
      return sendError(res, ctx, 'overloaded', 503, { message: `At most ${MAX_DASHBOARD_CLIENTS} dashboards at once.`, retryAfter: 5 });
    }
    const client: Client = { res, blocked: false };
    res.onAborted(() => hub.remove(client));
    res.onWritable(() => {
      client.blocked = false;
      return true;
    });
    res.cork(() => {
      writeSseHead(res, ctx, false);
      const first = `retry: 2000\n\nevent: history\ndata: ${JSON.stringify(monitor.history)}\n\n` + hub.snapshot();
      if (!res.write(first)) client.blocked = true;
    });
    hub.add(client);
  };
}
