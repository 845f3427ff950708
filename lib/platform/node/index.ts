// The Node platform (Bun and Deno run it too). Each part loads on first use: node:net/tls/zlib
// when the HTTP exporter starts, node:fs only when recording is asked for.
// package.json "browser" swaps this module for ../web/index.ts.
import type { Platform } from '../platform.js';

// The request context is needed at once (the first request may enter it): loaded with the platform.
export { makeContextSlot } from './context.js';

export const platform: Platform = {
  loadTransport: () => import('./transport.js'),
  loadRecorder: () => import('./recorder.js'),
};
