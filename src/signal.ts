// A typed event of one kind: the service's hooks (idle, shutdown, queued, alert transitions) instead of string-named events.

export class Signal<T = void> {
  readonly #listeners = new Set<(v: T) => void>();

  /** Calls `f` on every emit until the returned function is called. */
  on(f: (v: T) => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  /** The next value that satisfies `pred`. */
  next(pred: (v: T) => boolean = () => true): Promise<T> {
    return new Promise((resolve) => {
      const off = this.on((v) => {
        if (!pred(v)) return;
        off();
        resolve(v);
      });
    });
  }

  emit(v: T): void {
    for (const f of [...this.#listeners]) f(v);
  }
}
