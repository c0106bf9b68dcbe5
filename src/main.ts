// The process entry: config, logger, service, signals. No logic of its own.
import { loadConfig, ConfigError } from './config.js';
import { createLogger, type Logger } from './log.js';
import { startService } from './service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`deepinfra-proxy: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.LOG_LEVEL);
  const service = await startService(config, { log });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'signal received');
    service.shutdown().then(
      () => exitAfterFlush(log, 0),
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Exits once the asynchronous log destination has written everything (bounded wait). */
function exitAfterFlush(log: Logger, code: number): void {
  setTimeout(() => process.exit(code), 2000).unref();
  log.flush(() => process.exit(code));
}

main().catch((e: unknown) => {
  process.stderr.write(`deepinfra-proxy failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
