// /metrics parsed by a Prometheus text parser and checked against /status; alerts.yml, Grafana and scrape files
// name only metrics the service really exports (promtool lints and unit-tests them when it is installed).
import t from 'tap';
import { createRequire } from 'node:module';
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type OpenAI from 'openai';
import { startStack, idle, chat, type Stack } from './helpers/harness.js';

interface Sample { value?: string; labels?: Record<string, string> }
interface Family { name: string; help: string; type: string; metrics: Sample[] }
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MON = `${ROOT}monitoring/`;
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p)) ?? null;

async function scrape(s: Stack): Promise<{ text: string; families: Map<string, Family>; samples: Map<string, Sample[]>; contentType: string }> {
  const r = await fetch(`${s.origin}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const text = await r.text();
  const families = new Map(parsePrometheus(text).map((f) => [f.name, f]));
  // the parser folds labelled histograms into one; read their _bucket/_sum/_count series as plain families instead
  const flat = parsePrometheus(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'));
  const samples = new Map<string, Sample[]>();
  for (const f of flat) samples.set(f.name, [...(samples.get(f.name) ?? []), ...f.metrics]); // series interleave: one family per run

  return { text, families, samples, contentType: r.headers.get('content-type') ?? '' };
}

const value = (xs: Sample[] | undefined, labels: Record<string, string> = {}): number => {
  const hit = (xs ?? []).filter((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return hit.reduce((a, x) => a + Number(x.value), 0);
};

async function holdStreams(client: OpenAI, n: number): Promise<{ close(): Promise<unknown> }> {
  const acs = Array.from({ length: n }, () => new AbortController());
  let started = 0;
  let allStarted!: () => void;
  const ready = new Promise<void>((r) => (allStarted = r));
  const ends = acs.map((ac) =>
    (async () => {
      const st = await client.chat.completions.create({ ...chat('sim/stall'), stream: true } as never, { signal: ac.signal });
      let first = true;
      for await (const _ of st as unknown as AsyncIterable<unknown>) if (first && (first = false, ++started === n)) allStarted();
    })().catch(() => undefined),
  );
  await ready;
  return { close: () => (acs.forEach((a) => a.abort()), Promise.all(ends)) };
}

void t.test('/metrics: valid Prometheus text whose figures agree with /status', async (t) => {
  const s = await startStack(t, { MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000', MAX_CONCURRENT_CONNECTIONS: '3', SHED_THRESHOLD: '1', POOL_SIZE: '1' });
  const hold = await holdStreams(s.client, 3);
  const shed = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${s.config.VALID_API_KEYS[0]}`, 'content-type': 'application/json' }, body: JSON.stringify(chat('sim/echo')),
  });
  t.equal(shed.status, 503);
  await shed.arrayBuffer();
  await hold.close();
  await idle(s.service);
  // one at a time: the limit is 3 in flight
  let failed = 0;
  const calls: Array<() => Promise<unknown>> = [
    ...Array.from({ length: 4 }, () => () => s.client.chat.completions.create(chat('sim/echo;tokens=3') as never)),
    ...Array.from({ length: 3 }, () => async () => {
      const st = await s.client.chat.completions.create({ ...chat('sim/echo;tokens=5'), stream: true } as never);
      for await (const _ of st as unknown as AsyncIterable<unknown>) { /* drain */ }
    }),
    ...Array.from({ length: 2 }, () => () => s.client.chat.completions.create(chat('sim/error503') as never)),
  ];
  for (const call of calls) await call().catch(() => failed++);
  t.equal(failed, 2, 'the two error503 calls failed');
  await idle(s.service);

  const st = (await (await fetch(`${s.origin}/status`)).json()) as Record<string, number>;
  const m = await scrape(s);
  t.match(m.contentType, /^text\/plain; version=0\.0\.4/, 'Prometheus text content type');
  for (const f of m.families.values()) {
    t.match(f.name, /^deepinfra_[a-z0-9_]+$/, `${f.name}: prefixed`);
    t.ok(f.help.length > 0, `${f.name}: has help`);
    t.ok(['COUNTER', 'GAUGE', 'HISTOGRAM'].includes(f.type), `${f.name}: typed ${f.type}`);
    if (f.type === 'COUNTER') t.match(f.name, /_total$/, `${f.name}: counters end in _total`);
  }
  const total = 3 + 1 + 4 + 3 + 2;
  const req = m.samples.get('deepinfra_requests_total');
  t.equal(value(req), total, 'requests_total sums to every request');
  t.equal(value(req), st['total_requests'], '… which is /status total_requests');
  t.equal(value(req, { outcome: 'ok', status: '200', route: '/v1/chat/completions' }), 7);
  t.equal(value(req, { outcome: 'upstream_error', status: '503' }), 2);
  t.equal(value(req, { outcome: 'shed', status: '503' }), 1);
  t.equal(value(req, { outcome: 'client_abort' }), 3);
  t.equal(value(m.samples.get('deepinfra_shed_total'), { reason: 'overloaded' }), 1);
  t.equal(value(m.samples.get('deepinfra_shed_total'), { reason: 'memory_pressure' }), 0, 'other shed reasons exported at 0');
  t.equal(value(m.samples.get('deepinfra_client_aborts_total')), 3);
  t.equal(value(m.samples.get('deepinfra_upstream_aborts_total')), 0);
  t.equal(value(m.samples.get('deepinfra_events_relayed_total')), st['events_relayed']);
  t.ok(st['events_relayed']! >= 3 * 5, 'events relayed counted');
  t.equal(value(m.samples.get('deepinfra_bytes_relayed_total')), st['bytes_relayed']);

  t.equal(m.families.get('deepinfra_request_duration_seconds')?.type, 'HISTOGRAM');
  t.equal(m.families.get('deepinfra_ttfb_seconds')?.type, 'HISTOGRAM');
  t.equal(value(m.samples.get('deepinfra_request_duration_seconds_count')), total, 'every request has a duration');
  t.equal(value(m.samples.get('deepinfra_ttfb_seconds_count')), total - 1, 'every request but the shed one sent a first byte');
  const buckets = m.samples.get('deepinfra_request_duration_seconds_bucket') ?? [];
  const okBuckets = buckets.filter((b) => b.labels?.['outcome'] === 'ok');
  const counts = okBuckets.map((b) => Number(b.value));
  t.same(counts, [...counts].sort((a, b) => a - b), 'buckets are cumulative');
  t.equal(okBuckets.at(-1)?.labels?.['le'], '+Inf');
  t.equal(counts.at(-1), 7);

  const g = (name: string, labels?: Record<string, string>): number => value(m.samples.get(name), labels);
  t.equal(g('deepinfra_in_flight'), 0);
  t.equal(g('deepinfra_in_flight_peak'), 3, 'the peak since the last scrape saw the held streams');
  t.equal(g('deepinfra_max_connections'), 3);
  t.equal(g('deepinfra_connection_use'), 0);
  t.equal(g('deepinfra_queue_length'), 0);
  t.ok(g('deepinfra_memory_rss_bytes') > 0);
  t.equal(g('deepinfra_memory_limit_bytes'), s.config.MEMORY_LIMIT_MB * 1048576);
  t.equal(g('deepinfra_pool_size'), 1);
  t.equal(g('deepinfra_pool_busy'), 0);
  t.equal(g('deepinfra_build_info', { version: s.service.state.version, instance_id: s.config.INSTANCE_ID }), 1);
  t.equal(g('deepinfra_mirror_info', { mirror: '0', host: new URL(s.sim.baseUrl).host }), 1, 'mirror index → host');
  t.equal(g('deepinfra_mirror_circuit_state', { mirror: '0' }), 0);
  t.equal(g('deepinfra_alert_threshold', { alert: 'error_rate' }), 0.05);
  t.notOk(m.text.includes('http://') || m.text.includes(s.sim.baseUrl), 'no URL in the metrics');

  const again = await scrape(s);
  t.equal(value(again.samples.get('deepinfra_in_flight_peak')), 0, 'the peak resets with each scrape');
  t.equal(value(again.samples.get('deepinfra_upstream_attempts_total'), { mirror: '0' }), total - 1, 'one upstream attempt per admitted request');
  t.equal(value(again.samples.get('deepinfra_upstream_failures_total'), { mirror: '0' }), 2);
  t.equal(value(again.samples.get('deepinfra_requests_total')), total, 'scraping counts nothing twice');

  await t.test('promtool check metrics', { skip: PROMTOOL ? false : 'promtool is missing (apt-get install prometheus)' }, async (t) => {
    t.equal(execFileSync(PROMTOOL!, ['check', 'metrics'], { input: again.text, encoding: 'utf8' }).trim(), '', 'no lint findings');
  });
});

/** Metric names in a PromQL expression: strings, label matchers, ranges, grouping clauses and functions removed. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+-?[0-9a-z]+/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ');
  const out: string[] = [];
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || keywords.has(m[0])) continue;
    out.push(m[0]);
  }
  return out;
}

void t.test('alerts.yml, grafana-dashboard.json and prometheus.yml use only exported metrics', async (t) => {
  const s = await startStack(t, {});
  const m = await scrape(s);
  const exported = new Set<string>(['up']); // Prometheus's own per-target series
  for (const f of m.families.values()) {
    exported.add(f.name);
    if (f.type === 'HISTOGRAM') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(f.name + suffix);
  }
  t.same(metricNames('sum by (le) (rate(a_bucket{x="}"}[5m])) / on (m) group_left (h) b > 0.5 and c offset 1m'), ['a_bucket', 'b', 'c'], 'the name extractor');

  const alerts = parseYaml(readFileSync(`${MON}alerts.yml`, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; labels: { severity: string } }> }> };
  const rules = alerts.groups.flatMap((g) => g.rules);
  t.ok(rules.length >= 5);
  for (const r of rules) {
    const names = metricNames(r.expr);
    t.ok(names.length > 0, `${r.alert}: names a metric`);
    for (const n of names) t.ok(exported.has(n), `${r.alert}: ${n} is exported`);
    t.ok(['warning', 'critical'].includes(r.labels.severity), `${r.alert}: severity ${r.labels.severity}`);
  }
  const rule = (name: string): { expr: string; labels: { severity: string } } => rules.find((r) => r.alert === name)!;
  t.match(rule('DeepinfraConnectionsHigh').expr, /> 0\.85\b/, 'connections > 85 %');
  t.equal(rule('DeepinfraConnectionsHigh').labels.severity, 'warning');
  t.match(rule('DeepinfraMemoryHigh').expr, /> 0\.8\b/, 'memory > 80 %');
  t.equal(rule('DeepinfraMemoryHigh').labels.severity, 'warning');
  t.match(rule('DeepinfraErrorRateCritical').expr, /> 0\.05\b/, 'error rate > 5 %');
  t.equal(rule('DeepinfraErrorRateCritical').labels.severity, 'critical');
  t.match(rule('DeepinfraShedding').expr, /deepinfra_shed_total/);
  t.match(rule('DeepinfraUpstreamCircuitOpen').expr, /deepinfra_mirror_circuit_state/);

  const dash = JSON.parse(readFileSync(`${MON}grafana-dashboard.json`, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  t.ok(dash.panels.length >= 10);
  for (const p of dash.panels) for (const tg of p.targets) for (const n of metricNames(tg.expr)) t.ok(exported.has(n), `grafana "${p.title}": ${n} is exported`);

  const prom = parseYaml(readFileSync(`${MON}prometheus.yml`, 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ metrics_path: string; static_configs: Array<{ targets: string[] }> }> };
  t.ok(prom.rule_files.includes('alerts.yml'));
  const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((x) => x.targets));
  t.same(targets.filter((x) => x.startsWith('deepinfra-')), ['deepinfra-1:8000', 'deepinfra-2:8000', 'deepinfra-3:8000'], 'the 3-instance cluster');
  t.ok(targets.some((x) => !x.startsWith('deepinfra-')), 'a single-instance job');
  t.ok(prom.scrape_configs.every((c) => c.metrics_path === '/metrics'));

  await t.test('promtool checks the rules, their unit tests and the config', { skip: PROMTOOL ? false : 'promtool is missing (apt-get install prometheus)' }, async (t) => {
    const run = (...args: string[]): string => execFileSync(PROMTOOL!, args, { cwd: MON, encoding: 'utf8' });
    t.match(run('check', 'rules', 'alerts.yml'), /SUCCESS/);
    t.match(run('test', 'rules', 'alerts.test.yml'), /SUCCESS/);
    t.match(run('check', 'config', 'prometheus.yml'), /SUCCESS/);
  });
});
