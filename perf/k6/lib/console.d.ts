// The console k6 provides (its runtime has one; @types/k6 does not declare it and we load no DOM/node types).
declare const console: {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
