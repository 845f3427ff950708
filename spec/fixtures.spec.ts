// Golden payloads: each scenario's bytes must equal fixtures/<scenario>.ndjson exactly.
// After an intended wire change, run `npm run fixtures` and review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scenarios } from './fixtures/scenarios.ts';
import { flatten } from './helpers/tracing.ts';
import { validateExportRequest } from '../lib/cli/validate.ts';

const dir = new URL('../fixtures/', import.meta.url);

for (const [name, run] of Object.entries(scenarios)) {
  test(`golden: ${name}`, async () => {
    const got = (await run()).map((l) => l + '\n').join('');
    const want = readFileSync(new URL(`${name}.ndjson`, dir), 'utf8');
    assert.equal(
      got,
      want,
      `fixtures/${name}.ndjson differs; if the change is intended, run npm run fixtures and review the diff`,
    );
    for (const line of want.trim().split('\n')) {
      assert.deepEqual(
        validateExportRequest(JSON.parse(line)).ok,
        true,
        'the OTLP schema accepts it, no unknown fields',
      );
    }
  });
}

test('golden files say what the scenarios promise', () => {
  const read = (n: string) =>
    flatten(
      readFileSync(new URL(`${n}.ndjson`, dir), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
  const [recv, fail, ok] = read('buffered-retry');
  assert.deepEqual([fail!.parentSpanId, ok!.parentSpanId], [recv!.spanId, recv!.spanId]);
  assert.deepEqual([fail!.status, ok!.status], [{ code: 2, message: 'process attempt failed' }, { code: 1 }]);
  const restart = read('restart');
  assert.equal(restart[1]!.parentSpanId, restart[0]!.spanId);
  assert.equal(read('missing-metadata')[0]!.parentSpanId, '9c7e5a3b1d0f2e4c');
  const [failed] = read('failed-handler');
  assert.equal(failed!.events[0]!.name, 'exception');
  assert.equal(read('invalid-span-key')[0]!.attributes['request.span_key_invalid'], true);
  const [front, back] = read('nested-hops');
  assert.equal(back!.parentSpanId, front!.spanId);
});
