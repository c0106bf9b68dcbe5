// /dashboard in headless Chromium: live values from /dashboard/events while the simulator streams; a screenshot.
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startStack, chat } from './helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'dash-token-0123456';

/** Runs in the page: has it rendered at least `n` status events? (a function, not a string: the page's CSP forbids eval) */
const updatesAtLeast = (n: number): boolean =>
  Number((globalThis as unknown as { document: { body: { dataset: Record<string, string | undefined> } } }).document.body.dataset['updates'] ?? 0) >= n;

const skip = existsSync(CHROMIUM) ? false : `Chromium is missing (${CHROMIUM}): apt-get install -y chromium`;

void t.test('the dashboard shows live values while the simulator streams', { skip }, async (t) => {
  const s = await startStack(t, {
    STATUS_TOKEN: TOKEN, POOL_SIZE: '2', MAX_RETRIES: '0', CIRCUIT_FAILURES: '1000',
    MAX_CONCURRENT_CONNECTIONS: '20', ALERT_CONNECTIONS: '0.1',
  });

  // three long streams (the simulator plans every token up front: keep the count modest), and a loop of short requests (1 in 8 failing) for the rates and latency charts
  const streams = Array.from({ length: 3 }, () => new AbortController());
  let firstChunks = 0;
  let allStreaming!: () => void;
  const streaming = new Promise<void>((r) => (allStreaming = r));
  const streamEnds = streams.map((ac) =>
    (async () => {
      const st = await s.client.chat.completions.create({ ...chat('sim/echo;tokens=5000;interval=20'), stream: true } as never, { signal: ac.signal });
      let first = true;
      for await (const _ of st as unknown as AsyncIterable<unknown>) if (first && !(first = false) && ++firstChunks === 3) allStreaming();
    })().catch(() => undefined),
  );
  let loop = true;
  const traffic = (async () => {
    for (let i = 0; loop; i++) await s.client.chat.completions.create(chat(i % 8 === 7 ? 'sim/error500' : 'sim/echo;tokens=2') as never).catch(() => undefined);
  })();
  await streaming;

  const denied = await fetch(`${s.origin}/dashboard`);
  t.equal(denied.status, 401, 'the page itself needs the status token');
  await denied.arrayBuffer();

  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    const resp = await page.goto(`${s.origin}/dashboard?token=${TOKEN}`);
    t.equal(resp?.status(), 200);
    t.match(resp?.headers()['content-type'] ?? '', /^text\/html/);

    await page.waitForSelector('#live.on');
    t.equal(await page.textContent('#live'), 'live', 'the event stream is connected (the page passed ?token= on)');
    await page.waitForFunction(updatesAtLeast, 2);
    const before = Number(await page.textContent('#total-requests'));
    const updates = Number(await page.getAttribute('body', 'data-updates'));
    await page.waitForFunction(updatesAtLeast, updates + 2);
    const after = Number(await page.textContent('#total-requests'));
    t.ok(after > before, `total requests grow live (${before} → ${after})`);

    const conn = (await page.textContent('#connections')) ?? '';
    const inFlight = Number(conn.split(' / ')[0]);
    t.ok(inFlight >= 3 && conn.endsWith(' / 20'), `connections shown: ${conn}`);
    await page.waitForSelector('#alerts li[data-alert="connections"]');
    t.match(await page.textContent('#alerts li[data-alert="connections"]'), /warning\s+connections/, 'the connections alert is listed');
    await page.waitForSelector('#alerts li[data-alert="error_rate"]');
    t.match(await page.textContent('#alerts li[data-alert="error_rate"]'), /critical\s+error_rate/, 'the error-rate alert is listed');
    t.match(await page.textContent('#mirrors'), new RegExp(`0${new URL(s.sim.baseUrl).host.replace(/\./g, '\\.')}closed`), 'the mirror and its circuit');
    for (const id of ['conn', 'mem', 'err', 'rps', 'lat']) {
      t.ok(Number(await page.getAttribute(`#c-${id}`, 'data-points')) >= 3, `chart ${id} has points`);
      t.not(await page.textContent(`#l-${id}`), '', `chart ${id} has a legend`);
    }
    t.match(await page.textContent('#l-rps'), /requests \d+(\.\d)?\/s/);
    t.match(await page.textContent('#p95'), /^\d+ ms$/, 'latency p95 shown');
    t.not(await page.textContent('#pool'), '-', 'worker pool shown');
    t.same(problems, [], 'no script errors, no CSP violations');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    t.ok(existsSync(`${ARTIFACTS}dashboard.png`), 'screenshot saved to test-artifacts/dashboard.png');

    // closing the page ends its event stream on the server: the monitor loses the dashboard's subscription
    const m = s.service.monitor;
    t.equal(m.subscribers, 1, 'the open dashboard is subscribed to the monitor');
    await page.close();
    await new Promise<void>((done) => {
      const off = m.subscribe(() => m.subscribers === 1 && (off(), done())); // only this listener left
    });
    t.pass('the server dropped the closed page\'s stream');
  } finally {
    await browser?.close();
    loop = false;
    streams.forEach((ac) => ac.abort());
    await Promise.all([traffic, ...streamEnds]);
  }
});
