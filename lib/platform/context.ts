// Where the current span lives, per runtime: AsyncLocalStorage where the runtime has it
// (node/context.ts), a single slot elsewhere (web/context.ts).

export interface ContextSlot<T> {
  /** The value of the running async chain, undefined when none was entered. */
  get(): T | undefined;
  /** Sets the value for the rest of this synchronous run and what it starts (a hook cannot wrap the handler). */
  enter(value: T): void;
  /** Runs fn with the value set; afterwards the previous value is back. */
  run<R>(value: T, fn: () => R): R;
  /** False for the single-slot fallback: the value does not follow awaits, it is whatever was set last. */
  readonly followsAwaits: boolean;
}
