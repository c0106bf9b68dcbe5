// One clock for timestamps compared across bench processes: the system's monotonic clock.

/**
 * ms on CLOCK_MONOTONIC (process.hrtime), which every process of the machine shares. `performance.timeOrigin +
 * performance.now()` is not comparable across processes started at different times: each fixes its timeOrigin
 * from the wall clock at start, so a wall-clock adjustment in between shifts one against the other (run U's
 * `leave` row read 1.7-1.8 s for every target, nginx included, that way).
 */
export const monoNow = (): number => Number(process.hrtime.bigint()) / 1e6;
