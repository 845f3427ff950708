// Diagnostics: a logger is the host's code; whatever it does (throw, reject, return junk) must
// not reach the service as an exception or an unhandled rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDiagnostics } from '../../lib/util/diagnostics.ts';
import { NAME } from '../../lib/util/text.ts';
import { failOnUnhandled } from '../helpers/no-unhandled.ts';

failOnUnhandled();

/** Lets rejections that nobody handles surface (Node reports them after the microtask queue drains). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

test('an async logger whose promise rejects does not reject unhandled (function and { warn } forms)', async () => {
  const unhandled: unknown[] = [];
  const record = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', record);
  try {
    const said: string[] = [];
    const asFunction = makeDiagnostics(async (m) => {
      said.push(m);
      throw new Error('log sink down');
    });
    const asObject = makeDiagnostics({
      warn: (m) => {
        said.push(m);
        return Promise.reject(new Error('log sink down')) as unknown as void;
      },
    });
    asFunction.warn('export', 'first');
    asObject.warn('export', 'second');
    asObject.warn('export', 'held back');
    asObject.flush();
    await settle();
    assert.deepEqual(unhandled, []);
    assert.deepEqual(said, [
      `[${NAME}] first`,
      `[${NAME}] second`,
      `[${NAME}] not reported individually: export: 1 more like it`,
    ]);
  } finally {
    process.off('unhandledRejection', record);
  }
});

test('a logger that throws, or returns a thenable whose then() throws, is contained', async () => {
  const throwing = makeDiagnostics(() => {
    throw new Error('no');
  });
  assert.doesNotThrow(() => throwing.warn('a', 'x'));
  const hostile = makeDiagnostics(() => ({
    then() {
      throw new Error('then() throws');
    },
  }) as unknown as void);
  assert.doesNotThrow(() => hostile.warn('a', 'x'));
  await settle();
});
