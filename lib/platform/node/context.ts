// The request context on runtimes with node:async_hooks (Node, Deno, Bun): an
// AsyncLocalStorage, so a handler finds its request's span at any async depth.
// package.json "browser" swaps this module for ../web/context.js.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ContextSlot } from '../context.js';

export function makeContextSlot<T>(): ContextSlot<T> {
  const storage = new AsyncLocalStorage<T>();
  return {
    get: () => storage.getStore(),
    enter: (value) => storage.enterWith(value),
    run: (value, fn) => storage.run(value, fn),
    followsAwaits: true,
  };
}
