// The request context where node:async_hooks is missing (browsers, service workers). A runtime
// that exposes AsyncLocalStorage as a global (some edge runtimes do) gets the real thing.
// Otherwise a single slot: the value entered last, so currentSpan() is right while one request
// is handled at a time, and inside withSpan only until fn's first await.
import type { ContextSlot } from '../context.js';

interface AlsLike<T> {
  getStore(): T | undefined;
  enterWith(value: T): void;
  run<R>(value: T, fn: () => R): R;
}

export function makeContextSlot<T>(): ContextSlot<T> {
  const Als = (globalThis as { AsyncLocalStorage?: new () => AlsLike<T> }).AsyncLocalStorage;
  if (typeof Als === 'function') {
    const storage = new Als();
    return {
      get: () => storage.getStore(),
      enter: (value) => storage.enterWith(value),
      run: (value, fn) => storage.run(value, fn),
      followsAwaits: true,
    };
  }
  let current: T | undefined;
  return {
    get: () => current,
    enter: (value) => {
      current = value;
    },
    run: (value, fn) => {
      const previous = current;
      current = value;
      try {
        return fn();
      } finally {
        current = previous;
      }
    },
    followsAwaits: false,
  };
}
