// The request context on runtimes with node:async_hooks (Node, Deno, Bun): an
// AsyncLocalStorage, so a handler finds its request's span at any async depth.
// Reached through ./index.ts, which package.json "browser" swaps for ../web/index.ts.
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
