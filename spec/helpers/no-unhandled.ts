// A process-level safety net for a test file: nothing the tracer does may reject unhandled or
// throw uncaught. Call once at the top of the file; the check runs after all its tests.
import { after } from 'node:test';
import assert from 'node:assert/strict';

export function failOnUnhandled(): void {
  const unhandled: unknown[] = [];
  const record = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  after(() => {
    process.off('unhandledRejection', record);
    process.off('uncaughtException', record);
    assert.deepEqual(unhandled.map(String), [], 'no unhandled rejection or uncaught exception');
  });
}
