// The platform of browsers and workers: fetch and CompressionStream; no files, so the recorder
// only reports that it cannot record. package.json "browser" puts this module in place of
// ../node/index.ts.
import type { Platform } from '../platform.js';

// The request context is needed at once (the first request may enter it): loaded with the platform.
export { makeContextSlot } from './context.js';

export const platform: Platform = {
  loadTransport: () => import('./transport.js'),
  loadRecorder: () => import('./recorder.js'),
};
