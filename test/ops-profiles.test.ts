// Profiles and precedence: the guide's three profiles load, explicit variables win, sources say where values came from.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, PROFILES, readProfile } from '../src/config.js';
import { startStack, testConfig } from './helpers/harness.js';

/** The guide's settings table, column by column (the specification the profile files must match). */
const GUIDE = {
  basic: { MAX_CONCURRENT_CONNECTIONS: 1000, STREAM_BUFFER_SIZE: 16384, MEMORY_LIMIT_MB: 2048, REQUEST_TIMEOUT: 120000, STREAM_TIMEOUT: 300000 },
  medium: { MAX_CONCURRENT_CONNECTIONS: 3000, STREAM_BUFFER_SIZE: 32768, MEMORY_LIMIT_MB: 4096, REQUEST_TIMEOUT: 90000, STREAM_TIMEOUT: 240000, CONNECTION_CHECK_INTERVAL: 30 },
  high: { MAX_CONCURRENT_CONNECTIONS: 8000, STREAM_BUFFER_SIZE: 65536, MEMORY_LIMIT_MB: 8192, REQUEST_TIMEOUT: 60000, STREAM_TIMEOUT: 180000, CONNECTION_CHECK_INTERVAL: 50, DISABLE_CONNECTION_CHECK: true },
} as const;

function thrown(fn: () => unknown): Error | null {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return null;
}

void t.test('each profile gives the guide\'s values, marked as coming from the profile', async (t) => {
  for (const name of PROFILES) {
    const c = testConfig({ PROFILE: name });
    t.equal(c.PROFILE, name);
    for (const [k, v] of Object.entries(GUIDE[name])) {
      t.equal((c as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
      t.equal(c.sources[k], 'profile', `${name}: ${k} comes from the profile`);
    }
  }
});

void t.test('profile files set only variables the service reads', async (t) => {
  const known = Object.keys(testConfig().sources);
  for (const name of PROFILES) {
    const keys = Object.keys(readProfile(name));
    t.same(keys.filter((k) => !known.includes(k)), [], `${name}.env has no unknown variables`);
    t.same(keys.sort(), Object.keys(GUIDE[name]).sort(), `${name}.env sets exactly the guide's column`);
  }
});

void t.test('an explicit variable wins over the profile; the rest still come from it', async (t) => {
  const c = testConfig({ PROFILE: 'medium', MAX_CONCURRENT_CONNECTIONS: '1234', DISABLE_CONNECTION_CHECK: 'true' });
  t.equal(c.MAX_CONCURRENT_CONNECTIONS, 1234);
  t.equal(c.sources.MAX_CONCURRENT_CONNECTIONS, 'env');
  t.equal(c.DISABLE_CONNECTION_CHECK, true);
  t.equal(c.sources.DISABLE_CONNECTION_CHECK, 'env');
  t.equal(c.STREAM_BUFFER_SIZE, GUIDE.medium.STREAM_BUFFER_SIZE);
  t.equal(c.sources.STREAM_BUFFER_SIZE, 'profile');
  t.equal(c.sources.SHED_THRESHOLD, 'default', 'a variable neither set nor in the profile is a default');
  t.equal(c.sources.PROFILE, 'env');
});

void t.test('without PROFILE the basic profile applies', async (t) => {
  const c = testConfig();
  t.equal(c.PROFILE, 'basic');
  t.equal(c.sources.PROFILE, 'default');
  t.equal(c.MAX_CONCURRENT_CONNECTIONS, GUIDE.basic.MAX_CONCURRENT_CONNECTIONS);
  t.equal(c.sources.MAX_CONCURRENT_CONNECTIONS, 'profile');
});

void t.test('a .env file wins over the profile, the environment over the .env file', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, '.env');
  writeFileSync(file, 'PROFILE=high\nSTREAM_BUFFER_SIZE=4096\nMEMORY_LIMIT_MB=1024\n');
  const c = loadConfig({ MEMORY_LIMIT_MB: '512' }, file);
  t.equal(c.PROFILE, 'high');
  t.equal(c.STREAM_BUFFER_SIZE, 4096);
  t.equal(c.MEMORY_LIMIT_MB, 512);
  t.equal(c.MAX_CONCURRENT_CONNECTIONS, GUIDE.high.MAX_CONCURRENT_CONNECTIONS);
});

void t.test('an unknown PROFILE fails naming the variable', async (t) => {
  for (const bad of ['huge', 'BASIC ', 'medium.env']) {
    const e = thrown(() => testConfig({ PROFILE: bad }));
    t.ok(e instanceof ConfigError, `${bad}: a ConfigError`);
    t.match(e?.message, /^PROFILE: must be one of basic, medium, high/, bad);
  }
});

void t.test('an invalid value in the environment is named, even over a valid profile', async (t) => {
  const e = thrown(() => testConfig({ PROFILE: 'medium', STREAM_BUFFER_SIZE: 'lots' }));
  t.ok(e instanceof ConfigError);
  t.match(e?.message, /STREAM_BUFFER_SIZE/);
});

void t.test('/status shows the profile in force and its settings', async (t) => {
  const stack = await startStack(t, { PROFILE: 'medium', MAX_CONCURRENT_CONNECTIONS: '40' });
  const res = await fetch(`${stack.origin}/status`);
  t.equal(res.status, 200);
  const doc = (await res.json()) as { settings: Record<string, unknown>; max_connections: number };
  t.equal(doc.settings.profile, 'medium');
  t.equal(doc.settings.stream_buffer_size, GUIDE.medium.STREAM_BUFFER_SIZE, 'from the profile');
  t.equal(doc.settings.connection_check_interval, GUIDE.medium.CONNECTION_CHECK_INTERVAL);
  t.equal(doc.settings.max_concurrent_connections, 40, 'explicit value wins');
  t.equal(doc.max_connections, 40);
});
