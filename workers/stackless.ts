// Errors nobody will see, made without a stack: capturing one is cheap, but Node formats it when a socket is destroyed with it.

/** Runs `fn` with stack traces off (Error.stackTraceLimit 0), and restores the limit whatever happens. */
export function stackless<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
