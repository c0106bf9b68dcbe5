// `npm run demo`: the service in front of the built-in simulator, with a curl line that streams.
import { loadConfigWith, ConfigError } from './config.js';
import { createLogger } from './log.js';
import { startService } from './service.js';
import { startSimulator } from './simulator/index.js';

async function demo(): Promise<void> {
  const sim = await startSimulator({ port: 0 });
  let config;
  try {
    // the simulator is local: never reach it through a forward proxy set in the environment
    config = loadConfigWith({ DEEPINFRA_MIRRORS: sim.baseUrl, NO_PROXY: '*', no_proxy: '*' });
  } catch (e) {
    process.stderr.write(`demo: ${e instanceof ConfigError ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const log = createLogger(config.LOG_LEVEL);
  const service = await startService(config, { log });
  const key = config.VALID_API_KEYS[0];
  const base = `http://127.0.0.1:${service.port}`;
  process.stdout.write(
    [
      '',
      `deepinfra-proxy demo: the service on ${base} relays to the built-in simulator at ${sim.baseUrl}`,
      'Stream a completion (the model name picks the simulator behaviour, see src/simulator/spec.ts):',
      '',
      `  curl -N ${base}/v1/chat/completions -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\`,
      `    -d '{"model":"sim/echo;tokens=20;interval=100","stream":true,"messages":[{"role":"user","content":"hi"}]}'`,
      '',
      `Live dashboard: ${base}/dashboard   status: ${base}/status   metrics: ${base}/metrics`,
      `OpenAI SDK: new OpenAI({ baseURL: '${base}/v1', apiKey: '${key}' })`,
      '',
    ].join('\n') + '\n',
  );
  const stop = (): void => {
    void service.shutdown().then(() => sim.close()).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

demo().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
