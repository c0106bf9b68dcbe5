// Entry of `npm run verify -- URL` (node dist/src/ops/verify.js): the after-deployment checklist as a program.
import { runVerify } from './verify-cli.js';

runVerify(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`verify failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
