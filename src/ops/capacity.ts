// The guide's capacity arithmetic: light/heavy users → equivalent connections → settings and instance count.

/** The guide's single-instance table: cores → upper end of the recommended concurrency. */
export const GUIDE_TABLE: ReadonlyArray<{ cores: number; memoryGb: number; concurrency: readonly [number, number] }> = [
  { cores: 2, memoryGb: 4, concurrency: [500, 1000] },
  { cores: 4, memoryGb: 8, concurrency: [1000, 2000] },
  { cores: 8, memoryGb: 16, concurrency: [2000, 5000] },
  { cores: 16, memoryGb: 32, concurrency: [5000, 10000] },
];

/** The guide's three profiles, in the order of their MAX_CONCURRENT_CONNECTIONS. */
export const GUIDE_PROFILES = [
  { profile: 'basic', cores: 2, max: 1000, buffer: 16384, memoryMb: 2048 },
  { profile: 'medium', cores: 4, max: 3000, buffer: 32768, memoryMb: 4096 },
  { profile: 'high', cores: 8, max: 8000, buffer: 65536, memoryMb: 8192 },
] as const;

/** Descriptors a proxied stream holds (client + upstream), and those kept for everything else. */
export const FDS_PER_STREAM = 2;
export const FD_HEADROOM = 1024;
/** Proxy memory per stream without its buffer, KB: the worst POOL_SIZE=0 figure of `npm run bench` (paced). */
export const DEFAULT_STREAM_KB = 45;

export interface CapacityInput {
  readonly users: number;
  /** Share of heavy users, 0..1. */
  readonly heavyShare: number;
  readonly lightSeconds?: number;
  readonly heavySeconds?: number;
  /** The window the connection time is spread over (the guide: 60 s). */
  readonly windowSeconds?: number;
  /** Proxy memory per stream, KB, without its buffer: 45 KB is the worst POOL_SIZE=0 figure of npm run bench (paced). */
  readonly streamKb?: number;
  /** Resident memory of an idle instance, MB. */
  readonly baseMb?: number;
  /** Cores of one instance: bounds its streams by the guide's table. */
  readonly cores?: number;
  /** Open-file limit of one instance: bounds its streams at (limit − headroom) / 2. */
  readonly fdLimit?: number;
  /** Explicit cap on one instance's MAX_CONCURRENT_CONNECTIONS (overrides cores). */
  readonly perInstance?: number;
  readonly shedThreshold?: number;
  readonly alertConnections?: number;
  readonly alertMemory?: number;
}

export interface CapacityPlan {
  readonly users: number;
  readonly light: number;
  readonly heavy: number;
  readonly connectionSeconds: number;
  /** Exact mean concurrency, and rounded as the guide prints it. */
  readonly equivalentExact: number;
  readonly equivalent: number;
  /** equivalent + 3·√equivalent: peaks of random arrivals. */
  readonly peak: number;
  readonly totalMax: number;
  readonly perInstanceCap: number;
  readonly instances: number;
  readonly profile: (typeof GUIDE_PROFILES)[number]['profile'];
  readonly settings: { MAX_CONCURRENT_CONNECTIONS: number; STREAM_BUFFER_SIZE: number; MEMORY_LIMIT_MB: number };
  readonly shedAt: number;
  readonly containerMemoryMb: number;
  readonly fdsNeeded: number;
}

/** Rounds up to a readable step: 10 below 100, 50 below 1000, 100 above. */
export function roundNice(x: number): number {
  const step = x < 100 ? 10 : x < 1000 ? 50 : 100;
  return Math.max(step, Math.ceil(x / step) * step);
}

/** The guide's recommended concurrency for a machine of `cores` cores (the row at or below it). */
export function tableConcurrency(cores: number): number {
  let best = GUIDE_TABLE[0]!.concurrency[1] / 2;
  for (const row of GUIDE_TABLE) if (cores >= row.cores) best = row.concurrency[1];
  return best;
}

export function planCapacity(i: CapacityInput): CapacityPlan {
  if (!Number.isInteger(i.users) || i.users < 1) throw new RangeError('--users must be a positive integer');
  if (!(i.heavyShare >= 0 && i.heavyShare <= 1)) throw new RangeError('--heavy must be a share between 0 and 1 (e.g. 0.3)');
  const lightS = i.lightSeconds ?? 10;
  const heavyS = i.heavySeconds ?? 120;
  const window = i.windowSeconds ?? 60;
  for (const [n, v] of [['--light-seconds', lightS], ['--heavy-seconds', heavyS], ['--window', window]] as const) {
    if (!(v > 0)) throw new RangeError(`${n} must be positive`);
  }
  const shed = i.shedThreshold ?? 0.9;
  const alertConn = i.alertConnections ?? 0.85;
  const alertMem = i.alertMemory ?? 0.8;

  const heavy = Math.round(i.users * i.heavyShare);
  const light = i.users - heavy;
  const connectionSeconds = light * lightS + heavy * heavyS;
  const equivalentExact = connectionSeconds / window;
  const equivalent = Math.round(equivalentExact);
  const peak = equivalentExact + 3 * Math.sqrt(equivalentExact);
  // Peaks stay under the shed threshold; the mean stays under the connection-use warning.
  const totalMax = roundNice(Math.max(peak / shed, equivalentExact / alertConn));

  const fdCap = i.fdLimit !== undefined ? Math.floor((i.fdLimit - FD_HEADROOM) / FDS_PER_STREAM) : Infinity;
  const coreCap = i.perInstance ?? (i.cores !== undefined ? tableConcurrency(i.cores) : GUIDE_PROFILES[2].max);
  const perInstanceCap = Math.max(1, Math.min(coreCap, fdCap));
  const instances = Math.max(1, Math.ceil(totalMax / perInstanceCap));
  const perMax = Math.min(roundNice(Math.ceil(totalMax / instances)), Math.max(perInstanceCap, 1));

  const chosen = GUIDE_PROFILES.find((p) => perMax <= p.max) ?? GUIDE_PROFILES[2];
  const buffer = chosen.buffer;
  const streamKb = i.streamKb ?? DEFAULT_STREAM_KB;
  const baseMb = i.baseMb ?? 128;
  const workingMb = baseMb + (perMax * (streamKb + buffer / 1024)) / 1024;
  const memoryMb = Math.max(512, Math.ceil(workingMb / alertMem / 256) * 256);
  return {
    users: i.users, light, heavy, connectionSeconds, equivalentExact, equivalent,
    peak: Math.ceil(peak), totalMax, perInstanceCap, instances, profile: chosen.profile,
    settings: { MAX_CONCURRENT_CONNECTIONS: perMax, STREAM_BUFFER_SIZE: buffer, MEMORY_LIMIT_MB: memoryMb },
    shedAt: Math.max(1, Math.floor(perMax * shed)),
    containerMemoryMb: Math.ceil((memoryMb * 1.25) / 256) * 256,
    fdsNeeded: perMax * FDS_PER_STREAM + FD_HEADROOM,
  };
}

/** The arithmetic in the guide's words, then the recommendation. */
export function formatPlan(p: CapacityPlan, i: CapacityInput): string[] {
  const lightS = i.lightSeconds ?? 10;
  const heavyS = i.heavySeconds ?? 120;
  const window = i.windowSeconds ?? 60;
  const s = p.settings;
  return [
    `${p.users} concurrent users = ${p.light} light + ${p.heavy} heavy`,
    `connection time = ${p.light}×${lightS} s + ${p.heavy}×${heavyS} s = ${p.connectionSeconds} s`,
    `equivalent connections ≈ ${p.connectionSeconds}/${window} = ${p.equivalent}`,
    `peak allowance: ${p.equivalent} + 3×√${p.equivalent} ≈ ${p.peak} (random arrivals)`,
    `total MAX_CONCURRENT_CONNECTIONS = max(peak / shed threshold, mean / connection warning) → ${p.totalMax}`,
    `one instance holds at most ${p.perInstanceCap} streams here → ${p.instances} instance(s)` +
      (p.instances > 1 ? ` (+1 spare to survive losing one)` : ''),
    `per instance (closest guide profile: ${p.profile}):`,
    `  MAX_CONCURRENT_CONNECTIONS=${s.MAX_CONCURRENT_CONNECTIONS}   # shedding starts at ${p.shedAt} in flight`,
    `  STREAM_BUFFER_SIZE=${s.STREAM_BUFFER_SIZE}`,
    `  MEMORY_LIMIT_MB=${s.MEMORY_LIMIT_MB}   # ${i.baseMb ?? 128} MB base + ${s.MAX_CONCURRENT_CONNECTIONS} × (${i.streamKb ?? DEFAULT_STREAM_KB} KB + buffer), under the 80 % memory warning`,
    `  container memory ≥ ${p.containerMemoryMb} MB, open files (ulimit -n) ≥ ${p.fdsNeeded}`,
  ];
}
