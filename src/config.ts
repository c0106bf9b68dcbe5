// The only reader of process.env: one zod schema for every setting, validated once, frozen.
import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { modelAliases } from './config-aliases.js';

export const PROFILES = ['basic', 'medium', 'high'] as const;
export type ProfileName = (typeof PROFILES)[number];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROFILE_DIR = join(ROOT, 'profiles');

/** The Go version's retry presets (minus its random delays). Explicit MAX_RETRIES / RETRY_DELAY win. */
const PERFORMANCE_PRESETS = {
  fast: { MAX_RETRIES: 1, RETRY_DELAY: 200 },
  balanced: { MAX_RETRIES: 3, RETRY_DELAY: 1000 },
  secure: { MAX_RETRIES: 5, RETRY_DELAY: 2000 },
} as const;

/** Variables renamed or misspelt by users of the Go version, with the name to use instead. */
const RENAMED: Readonly<Record<string, string>> = {
  MAX_CONNECTIONS: 'MAX_CONCURRENT_CONNECTIONS',
  DEEPINFRA_MIRROR: 'DEEPINFRA_MIRRORS',
  API_KEYS: 'VALID_API_KEYS',
  VALID_API_KEY: 'VALID_API_KEYS',
  BUFFER_SIZE: 'STREAM_BUFFER_SIZE',
  MEMORY_LIMIT: 'MEMORY_LIMIT_MB',
  RANDOM_DELAY_MIN: '(removed: the random delays of PERFORMANCE_MODE are gone)',
  RANDOM_DELAY_MAX: '(removed: the random delays of PERFORMANCE_MODE are gone)',
};

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().trim().regex(/^-?\d+$/, 'must be an integer').transform(Number).pipe(z.number().int().min(min).max(max));
const num = (min: number, max: number) =>
  z.string().trim().regex(/^-?\d+(\.\d+)?$/, 'must be a number').transform(Number).pipe(z.number().min(min).max(max));
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((s) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(s), 'must be true or false')
  .transform((s) => ['true', '1', 'yes', 'on'].includes(s));
const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

/** An upstream base URL: http(s), no userinfo; a Go-style full `/chat/completions` URL is cut to its base. */
const upstreamUrl = z.string().transform((raw, ctx) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // the text is not echoed: a malformed URL may still carry a password
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is not a URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${u.protocol}" is not http or https` });
    return z.NEVER;
  }
  if (u.username || u.password) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must not contain user:password@ (use DEEPINFRA_API_KEY)' });
    return z.NEVER;
  }
  if (u.search || u.hash) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must not contain a query or fragment' });
    return z.NEVER;
  }
  return u.href.replace(/\/+$/, '').replace(/\/chat\/completions$/, '');
});

/**
 * A forward proxy URL (HTTP_PROXY / HTTPS_PROXY): http or https, credentials allowed (sent as Proxy-Authorization,
 * never logged). Without a scheme http:// is assumed, as the Go version's http.ProxyFromEnvironment does.
 */
const proxyUrl = z.string().trim().min(1).transform((raw, ctx) => {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    // the text is not echoed: it may carry a password
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is not a URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${u.protocol}" is not http or https (socks proxies are not supported)` });
    return z.NEVER;
  }
  if (!u.hostname) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'has no host' });
    return z.NEVER;
  }
  return u.href;
});

/** The proxy variables, read as undici's EnvHttpProxyAgent reads them: the lowercase form wins when both are set. */
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'] as const;

const schema = z.object({
  PROFILE: z.enum(PROFILES).default('basic'),
  PORT: int(0, 65535).default('8000'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  INSTANCE_ID: z.string().trim().min(1).max(64).regex(/^[\w.-]+$/, 'letters, digits, . _ - only').optional(),
  VALID_API_KEYS: list.pipe(z.array(z.string().min(1)).min(1, 'needs at least one key')).default('linux.do'),
  DEEPINFRA_MIRRORS: list.pipe(z.array(upstreamUrl).min(1, 'needs at least one URL')).default('https://api.deepinfra.com/v1/openai'),
  DEEPINFRA_API_KEY: z.string().trim().min(1).optional(),
  MAX_CONCURRENT_CONNECTIONS: int(1, 1_000_000).default('1000'),
  SHED_THRESHOLD: num(0.01, 1).default('0.9'),
  CONNECTION_QUEUE_SIZE: int(0, 1_000_000).default('0'),
  QUEUE_TIMEOUT: int(1, 600_000).default('5000'),
  MAX_CONNECTIONS_PER_KEY: int(0, 1_000_000).default('0'),
  STREAM_BUFFER_SIZE: int(1024, 64 * 1024 * 1024).default('16384'),
  MEMORY_LIMIT_MB: int(64, 1_048_576).default('2048'),
  GC_THRESHOLD: num(0.1, 1).default('0.85'),
  REQUEST_TIMEOUT: int(1, 3_600_000).default('120000'),
  STREAM_TIMEOUT: int(1, 86_400_000).default('300000'),
  STREAM_IDLE_TIMEOUT: int(0, 3_600_000).default('60000'),
  CONNECT_TIMEOUT: int(1, 600_000).default('10000'),
  MAX_CONNECTION_TIME: int(0, 86_400_000).default('600000'),
  CLIENT_STALL_TIMEOUT: int(100, 3_600_000).default('30000'),
  BODY_TIMEOUT: int(100, 600_000).default('30000'),
  MAX_BODY_SIZE: int(1024, 1024 * 1024 * 1024).default(String(10 * 1024 * 1024)),
  MAX_UPLOAD_SIZE: int(1024, 1024 * 1024 * 1024).default(String(25 * 1024 * 1024)),
  MODEL_ALIASES: modelAliases.default(''),
  MAX_RESPONSE_SIZE: int(1024, 4 * 1024 * 1024 * 1024).default(String(64 * 1024 * 1024)),
  MAX_EVENT_SIZE: int(1024, 256 * 1024 * 1024).default(String(4 * 1024 * 1024)),
  CONNECTION_CHECK_INTERVAL: int(1, 3600).default('15'),
  DISABLE_CONNECTION_CHECK: bool.default('false'),
  PERFORMANCE_MODE: z.string().trim().toLowerCase().pipe(z.enum(['fast', 'balanced', 'secure'])).default('balanced'),
  MAX_RETRIES: int(0, 20).optional(),
  RETRY_DELAY: int(0, 60_000).optional(),
  RETRY_AFTER_CAP: int(0, 60_000).default('5000'),
  CIRCUIT_FAILURES: int(1, 1000).default('5'),
  CIRCUIT_RESET_MS: int(100, 3_600_000).default('10000'),
  // auto: inline on 2 cores or fewer (threads there add hand-off work, not cores: `npm run bench`), else one
  // worker per core but the main thread's
  POOL_SIZE: z.string().trim().toLowerCase().transform((v, ctx) => {
    if (v === 'auto') return autoPoolSize(availableParallelism());
    if (/^\d+$/.test(v) && Number(v) <= 256) return Number(v);
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be auto or an integer 0..256' });
    return z.NEVER;
  }).default('auto'),
  WORKER_MAX_OLD_GENERATION_MB: int(0, 1_048_576).default('0'),
  REASONING_FORMAT: z.enum(['passthrough', 'think']).default('passthrough'),
  MODELS_CACHE_TTL: int(0, 86_400_000).default('300000'),
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default('25000'),
  STATUS_TOKEN: z.string().trim().min(8, 'must be at least 8 characters').optional(),
  CORS_ORIGINS: list.pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'origins look like https://host[:port]'))).default(''),
  ENABLE_METRICS: bool.default('true'),
  ENABLE_DETAILED_LOGGING: bool.default('false'),
  LOG_USER_MESSAGES: bool.default('false'),
  LOG_RESPONSE_CONTENT: bool.default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ALERT_CONNECTIONS: num(0, 1).default('0.85'),
  ALERT_MEMORY: num(0, 1).default('0.8'),
  ALERT_ERROR_RATE: num(0, 1).default('0.05'),
  REQUIRE_NATIVE_UWS: bool.default('true'),
  HTTP_PROXY: proxyUrl.optional(),
  HTTPS_PROXY: proxyUrl.optional(),
  NO_PROXY: z.string().trim().optional(),
});

type Raw = z.infer<typeof schema>;
export type Config = Readonly<
  Omit<Raw, 'MAX_RETRIES' | 'RETRY_DELAY' | 'INSTANCE_ID'> & {
    MAX_RETRIES: number;
    RETRY_DELAY: number;
    INSTANCE_ID: string;
    /** Settings that are allowed but unsafe (e.g. a plain-http upstream), for the service to log at start. */
    warnings: readonly string[];
    /** Where each value came from: env, profile or default (for /status and the start log). */
    sources: Readonly<Record<string, 'env' | 'profile' | 'default'>>;
  }
>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** POOL_SIZE=auto: no worker threads on 2 cores or fewer, else one per core beside the main thread's. */
export function autoPoolSize(cores: number): number {
  return cores <= 2 ? 0 : cores - 1;
}

/** Reads a profile file (KEY=value lines). */
export function readProfile(name: ProfileName): Record<string, string> {
  return parseDotenv(readFileSync(join(PROFILE_DIR, `${name}.env`)));
}

/**
 * Builds the frozen config from an environment (process.env and ./.env by default).
 * Precedence: explicit variables, then the PROFILE file, then the schema defaults.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env, dotenvPath = '.env'): Config {
  const merged: Record<string, string | undefined> = {};
  if (dotenvPath && existsSync(dotenvPath)) Object.assign(merged, parseDotenv(readFileSync(dotenvPath)));
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;

  for (const name of PROXY_VARIABLES) {
    const lower = merged[name.toLowerCase()];
    if (lower !== undefined) merged[name] = lower;
  }

  const hints = Object.keys(RENAMED).filter((k) => merged[k] !== undefined);
  if (hints.length > 0) {
    throw new ConfigError(hints.map((k) => `${k} is not read by this service: use ${RENAMED[k]}`).join('; '));
  }

  const profileName = schema.shape.PROFILE.safeParse(merged.PROFILE);
  if (!profileName.success) throw new ConfigError(`PROFILE: must be one of ${PROFILES.join(', ')}`);
  const profile = readProfile(profileName.data);
  const sources: Record<string, 'env' | 'profile' | 'default'> = {};
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const fromEnv = merged[key];
    const fromProfile = profile[key];
    if (fromEnv !== undefined) [input[key], sources[key]] = [fromEnv, 'env'];
    else if (fromProfile !== undefined && fromProfile !== '') [input[key], sources[key]] = [fromProfile, 'profile'];
    else sources[key] = 'default';
  }

  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${msg}`);
  }
  const c = parsed.data;
  const preset = PERFORMANCE_PRESETS[c.PERFORMANCE_MODE];
  const warnings = c.DEEPINFRA_MIRRORS.flatMap((url, i) =>
    url.startsWith('http:')
      ? [`DEEPINFRA_MIRRORS[${i}] (${new URL(url).host}) is plain http: prompts, completions and DEEPINFRA_API_KEY travel unencrypted`]
      : [],
  );
  return Object.freeze({
    ...c,
    VALID_API_KEYS: Object.freeze([...c.VALID_API_KEYS]),
    DEEPINFRA_MIRRORS: Object.freeze([...c.DEEPINFRA_MIRRORS]),
    CORS_ORIGINS: Object.freeze([...c.CORS_ORIGINS]),
    MAX_RETRIES: c.MAX_RETRIES ?? preset.MAX_RETRIES,
    RETRY_DELAY: c.RETRY_DELAY ?? preset.RETRY_DELAY,
    INSTANCE_ID: c.INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    warnings: Object.freeze(warnings),
    sources: Object.freeze(sources),
  }) as Config;
}

/** The process environment with some variables forced (the demo points the mirrors at its simulator). */
export function loadConfigWith(overrides: Readonly<Record<string, string>>): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** Settings that are safe to show in /status and the start log (no keys, tokens or URL secrets). */
export function publicSettings(c: Config): Record<string, unknown> {
  return {
    profile: c.PROFILE,
    max_concurrent_connections: c.MAX_CONCURRENT_CONNECTIONS,
    shed_threshold: c.SHED_THRESHOLD,
    connection_queue_size: c.CONNECTION_QUEUE_SIZE,
    max_connections_per_key: c.MAX_CONNECTIONS_PER_KEY,
    stream_buffer_size: c.STREAM_BUFFER_SIZE,
    memory_limit_mb: c.MEMORY_LIMIT_MB,
    request_timeout: c.REQUEST_TIMEOUT,
    stream_timeout: c.STREAM_TIMEOUT,
    stream_idle_timeout: c.STREAM_IDLE_TIMEOUT,
    max_connection_time: c.MAX_CONNECTION_TIME,
    connection_check_interval: c.DISABLE_CONNECTION_CHECK ? null : c.CONNECTION_CHECK_INTERVAL,
    performance_mode: c.PERFORMANCE_MODE,
    max_retries: c.MAX_RETRIES,
    retry_delay: c.RETRY_DELAY,
    pool_size: c.POOL_SIZE,
    mirrors: c.DEEPINFRA_MIRRORS.length,
    reasoning_format: c.REASONING_FORMAT,
    model_aliases: c.MODEL_ALIASES,
  };
}

/** A proxy URL without its credentials (for logs and /status). */
export function redactProxyUrl(url: string): string {
  const u = new URL(url);
  const auth = u.username !== '' || u.password !== '';
  u.username = '';
  u.password = '';
  return auth ? `${u.href} (with credentials)` : u.href;
}

/** Which forward proxy upstream requests use, without credentials; null when none is set. */
export function proxySummary(c: Config): { http_proxy: string | null; https_proxy: string | null; no_proxy: string | null } | null {
  if (!c.HTTP_PROXY && !c.HTTPS_PROXY) return null;
  return {
    http_proxy: c.HTTP_PROXY ? redactProxyUrl(c.HTTP_PROXY) : null,
    // undici sends https traffic through HTTP_PROXY when HTTPS_PROXY is not set
    https_proxy: c.HTTPS_PROXY ? redactProxyUrl(c.HTTPS_PROXY) : c.HTTP_PROXY ? redactProxyUrl(c.HTTP_PROXY) : null,
    no_proxy: c.NO_PROXY ?? null,
  };
}
