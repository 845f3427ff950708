// The two context slots behind currentSpan(): AsyncLocalStorage (Node, Deno, Bun; a global one
// on edge runtimes) and the single-slot fallback for runtimes without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeContextSlot as nodeSlot } from '../../lib/platform/node/context.ts';
import { makeContextSlot as webSlot } from '../../lib/platform/web/context.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('node: the value follows awaits, run() restores the previous one', async () => {
  const slot = nodeSlot<string>();
  assert.equal(slot.followsAwaits, true);
  const seen = await slot.run('outer', async () => {
    await tick();
    const inner = await slot.run('inner', async () => {
      await tick();
      return slot.get();
    });
    return [inner, slot.get()];
  });
  assert.deepEqual(seen, ['inner', 'outer']);
});

test('web without AsyncLocalStorage: a single slot, run() restores, even on a throw', () => {
  assert.equal((globalThis as { AsyncLocalStorage?: unknown }).AsyncLocalStorage, undefined);
  const slot = webSlot<string>();
  assert.equal(slot.followsAwaits, false);
  assert.equal(slot.get(), undefined);
  slot.enter('request');
  assert.equal(slot.run('child', () => slot.get()), 'child');
  assert.equal(slot.get(), 'request');
  assert.throws(() => slot.run('child', () => {
    throw new Error('x');
  }));
  assert.equal(slot.get(), 'request');
});

test('web with a global AsyncLocalStorage (edge runtimes): uses it, so the value follows awaits', async () => {
  const g = globalThis as { AsyncLocalStorage?: unknown };
  g.AsyncLocalStorage = AsyncLocalStorage;
  try {
    const slot = webSlot<string>();
    assert.equal(slot.followsAwaits, true);
    const both = await Promise.all(['a', 'b'].map((v) => slot.run(v, async () => {
      await tick();
      return slot.get();
    })));
    assert.deepEqual(both, ['a', 'b']);
  } finally {
    delete g.AsyncLocalStorage;
  }
});

/** What fresh-process-child.ts printed. */
function child(
  position: 'first' | 'second',
  handlerSpans: 'true' | 'false' | 'default',
  name = 'fresh-process-child',
): Promise<unknown> {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', script, position, handlerSpans];
    execFile(process.execPath, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim()));
    });
  });
}

const OWN = ['1', '2', '3'];
const NONE = ['none', 'none', 'none'];

test('fresh process, handlerSpans: true, tracer first: each concurrent handler sees its own request', async () => {
  assert.deepEqual(await child('first', 'true'), [OWN, OWN]);
});

test('fresh process, tracer registered second: handlers get the no-op span, never another request’s', async () => {
  assert.deepEqual(await child('second', 'true'), [NONE, NONE]);
});

test('fresh process, default: the first currentSpan() switches the context on; later requests see it', async () => {
  assert.deepEqual(await child('first', 'default'), [NONE, OWN]);
});

test('span API imported after the tracer (handlerSpans: true): undefined key before, own spans after', async () => {
  assert.deepEqual(await child('first', 'true', 'late-import-child'), [NONE, OWN]);
});

test('fresh process, handlerSpans: false: never', async () => {
  assert.deepEqual(await child('first', 'false'), [NONE, NONE]);
});

test('fresh process, default: switching on in the middle of requests warns of nothing', async () => {
  const script = fileURLToPath(new URL('./fresh-process-child.ts', import.meta.url));
  const stderr = await new Promise<string>((resolve, reject) => {
    const args = ['--import', 'tsx', script, 'first', 'default', 'log'];
    execFile(process.execPath, args, { timeout: 30_000 }, (err, _out, errText) => {
      if (err) reject(err);
      else resolve(errText);
    });
  });
  assert.equal(stderr, '');
});
