// The node flags the service starts with: npm start, the Dockerfile, deploy/entrypoint.sh, the bench and the tests' child processes (test/cluster.test.ts pins them all to this list).
//
// --expose-gc: the memory guard (src/memory.ts) and the workers' collections call gc().
// --max-semi-space-size=8: V8's young generation capped at 8 MB per semi-space (Node's default grows it to
//   16). Garbage there waits for the next scavenge, and with it the upstream reads it points to (ArrayBuffers,
//   outside the heap): 300 streams whose clients stopped reading settled at ~230 KB of RSS each with the
//   default and ~130 KB with this cap, with no CPU difference the same-run A/B could separate from noise
//   (`npm run bench -- nonstream stream22 paced slowclient`, twice; docs/performance.md).
export const NODE_FLAGS: readonly string[] = ['--expose-gc', '--max-semi-space-size=8'];
