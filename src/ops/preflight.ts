// Entry of `npm run preflight` (node dist/src/ops/preflight.js): the before-deployment checklist as a program.
import { runPreflight } from './preflight-cli.js';

runPreflight(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`preflight failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
