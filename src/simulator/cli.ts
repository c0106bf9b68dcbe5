// Command line entry: `node dist/src/simulator/cli.js [--port N] [--host H]` runs the simulator until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { startSimulator } from './index.js';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`simulator: invalid --port ${values.port}`);
  process.exit(2);
}
const sim = await startSimulator({ port, host: values.host });
console.log(`simulator listening on ${sim.baseUrl}`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  sim.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
