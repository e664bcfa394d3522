/**
 * A limit on the calls a remote store has in flight at once.
 *
 * Each remote call runs on a Deno blocking thread and needs one of the store's pooled
 * connections. Past the pool's size, an extra call would only park its thread on the
 * pool until a connection frees up (a sleep and a wake-up more per call); waiting here,
 * as a promise in line, costs no thread.
 *
 * @module
 */

/** Runs at most `size` calls at once; the others start in arrival order. */
export class Gate {
  #free: number;
  #waiting: (() => void)[] = [];

  /** A gate letting `size` calls through at once. */
  constructor(size: number) {
    this.#free = size;
  }

  /** Runs `call` once fewer than `size` calls are running. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((go) => this.#waiting.push(go));
    try {
      return await call();
    } finally {
      // The slot passes straight to the next in line.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
