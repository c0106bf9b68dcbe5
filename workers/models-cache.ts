// The models list an engine last got from its upstream (MODELS_CACHE_TTL), and the Go version's list when it has none.

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

const FALLBACK = JSON.stringify({
  object: 'list',
  data: FALLBACK_IDS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'deepinfra' })),
});

/** The last good upstream list of one engine (one per worker: never shared between services in a process). */
export class ModelsCache {
  #text: string | null = null;
  #at = 0;

  constructor(private readonly ttlMs: number) {}

  fresh(now: number): string | null {
    if (this.#text === null || this.ttlMs === 0) return null;
    return now - this.#at < this.ttlMs ? this.#text : null;
  }

  store(text: string, now: number): void {
    this.#text = text;
    this.#at = now;
  }

  /** The last good upstream list if there is one (even if stale), else the static list. */
  fallback(): string {
    return this.#text ?? FALLBACK;
  }
}
