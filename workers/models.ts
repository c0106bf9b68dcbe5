// The /v1/models answer: the upstream list cached for MODELS_CACHE_TTL, and a static fallback list.
import type { WorkerConfig } from './protocol.js';

let cache: { text: string; at: number } | null = null;

/** The Go version's built-in list: served when no mirror can be reached and nothing is cached. */
const FALLBACK_IDS = [
  'openai/gpt-oss-120b',
  'moonshotai/Kimi-K2-Instruct',
  'zai-org/GLM-4.5',
  'zai-org/GLM-4.5-Air',
  'Qwen/Qwen3-Coder-480B-A35B-Instruct-Turbo',
  'deepseek-ai/DeepSeek-R1-0528-Turbo',
  'deepseek-ai/DeepSeek-V3-0324-Turbo',
  'deepseek-ai/DeepSeek-V3.1',
  'meta-llama/Llama-4-Maverick-17B-128E-Instruct-Turbo',
];

export function cachedModels(config: WorkerConfig, now: number): string | null {
  if (cache === null || config.modelsCacheTtlMs === 0) return null;
  return now - cache.at < config.modelsCacheTtlMs ? cache.text : null;
}

export function storeModels(text: string, now: number): void {
  cache = { text, at: now };
}

/** The last good upstream list if there is one (even if stale), else the static list. */
export function fallbackModels(): string {
  if (cache !== null) return cache.text;
  return JSON.stringify({
    object: 'list',
    data: FALLBACK_IDS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'deepinfra' })),
  });
}
