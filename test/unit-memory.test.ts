// MemoryMonitor (unit, a fake RSS): over GC_THRESHOLD the main thread and the workers are asked to collect at the
// first sample, whatever the process's age (issue 12 §5, memory pressure in workers).
import t from 'tap';
import { MemoryMonitor } from '../src/memory.js';
import { Admission } from '../src/admission.js';
import { createLogger } from '../src/log.js';

const MB = 1048576;
/** src/memory.ts starts its 10 s GC spacing from a last collection at performance.now() = 0 (process start). */

t.test('the first sample over GC_THRESHOLD asks every worker to collect, even in a process started a moment ago', async (t) => {
  const age = performance.now();
  t.comment(`process age ${Math.round(age)} ms`);
  const admission = new Admission({ max: 10, shedThreshold: 1, queueSize: 0, queueTimeoutMs: 1000, perKey: 0 });
  let asked = 0;
  const m = new MemoryMonitor(64, 0.85, admission, createLogger('silent'), () => asked++, () => 60 * MB); // 94 %
  m.sample();
  t.equal(asked, 1, `the workers were asked to collect at the first sample over the threshold (process age ${Math.round(age)} ms)`);
  m.sample();
  t.ok(asked <= 1, 'not again at the next sample (collections are spaced)');
  t.notOk(admission.memoryPressure, 'under the limit: not shedding');
});
