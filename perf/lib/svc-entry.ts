// Runs the service (dist/src/main.js) under this script's path: other people's `pkill -f dist/src/main.js` spares benchmark targets.
await import('../../src/main.js');
