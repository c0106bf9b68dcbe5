// autocannon wrapper for fixed-concurrency POST load (non-stream chat requests).
import autocannon from 'autocannon';

export interface CannonResult {
  /** Completed responses (any status). */
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  durationS: number;
  rps: number;
  p50: number;
  p99: number;
}

export interface CannonOptions {
  url: string;
  body: string;
  connections: number;
  duration: number;
}

export async function runCannon(o: CannonOptions): Promise<CannonResult> {
  const r = await autocannon({
    url: o.url,
    method: 'POST',
    body: o.body,
    headers: { 'content-type': 'application/json', authorization: 'Bearer linux.do' },
    connections: o.connections,
    pipelining: 1,
    duration: o.duration,
  });
  const requests = r.requests.total;
  return {
    requests,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    durationS: r.duration,
    rps: requests / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
  };
}
