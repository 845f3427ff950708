import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  traceIdFromUuid,
  uuidFromTraceId,
  parseSpanId,
  RandomIds,
  makeIdSource,
  sampledByRatio,
} from '../../lib/trace/ids.ts';

test('trace id from a UUID in any case and form', () => {
  const hex = '3f2a1b4c5d6e4f8091a2b3c4d5e6f708';
  assert.equal(traceIdFromUuid('3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708'), hex);
  assert.equal(traceIdFromUuid('3F2A1B4C-5D6E-4F80-91A2-B3C4D5E6F708'), hex);
  assert.equal(traceIdFromUuid('3f2a1b4c5d6e4f8091a2b3c4d5e6f708'), hex);
  assert.equal(traceIdFromUuid('{3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708}'), hex);
  assert.equal(traceIdFromUuid('urn:uuid:3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708'), hex);
  assert.equal(uuidFromTraceId(hex), '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708');
});

test('invalid trace ids give null, never a throw', () => {
  for (const bad of [
    undefined, null, 42, {}, [], '', 'nope', '00000000-0000-0000-0000-000000000000', '0'.repeat(32),
    '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f70g', '3f2a1b4c_5d6e_4f80_91a2_b3c4d5e6f708', '3f2a1b4c5d6e4f8091a2b3c4d5e6f7',
    'x'.repeat(1_000_000),
  ]) {
    assert.equal(traceIdFromUuid(bad), null, String(bad).slice(0, 40));
  }
});

test('span ids from hex or from the integer the Python tracer stores', () => {
  assert.equal(parseSpanId('9c7e5a3b1d0f2e4c'), '9c7e5a3b1d0f2e4c');
  assert.equal(parseSpanId('9C7E5A3B1D0F2E4C'), '9c7e5a3b1d0f2e4c');
  // 0x9c7e5a3b1d0f2e4c = 11276549726919405132 (an unsigned 64-bit integer, beyond 2^53)
  assert.equal(parseSpanId('11276549726919405132'), '9c7e5a3b1d0f2e4c');
  assert.equal(parseSpanId(11276549726919405132n), '9c7e5a3b1d0f2e4c');
  assert.equal(parseSpanId(255), '00000000000000ff');
  assert.equal(parseSpanId('255'), '00000000000000ff');
  assert.equal(parseSpanId(2 ** 53 - 1), '001fffffffffffff');
  assert.equal(parseSpanId('18446744073709551615'), 'ffffffffffffffff');
});

test('unusable span ids give null', () => {
  for (const bad of [
    undefined, null, {}, true, '', '0', 0, 0n, -1, -1n, 1.5, NaN, Infinity, 2 ** 64, '18446744073709551616', 1n << 64n,
    '0000000000000000', 'zzzzzzzzzzzzzzzz', '9c7e5a3b1d0f2e4', '-5', ' 12', '1e5', '123456789012345678901',
  ]) {
    assert.equal(parseSpanId(bad), null, String(bad));
  }
});

test('random span ids: 16 lowercase hex, never zero, no collision in 1e6 draws', () => {
  const ids = new RandomIds();
  const seen = new Set<string>();
  for (let i = 0; i < 1_000_000; i++) {
    const id = ids.spanId();
    seen.add(id);
  }
  assert.equal(seen.size, 1_000_000);
  for (const id of [...seen].slice(0, 1000)) assert.match(id, /^[0-9a-f]{16}$/);
  const t = ids.traceId();
  assert.match(t, /^[0-9a-f]{32}$/);
  assert.notEqual(t, '0'.repeat(32));
});

test('a user id generator is checked and completed by the random one', () => {
  const src = makeIdSource({ spanId: () => 'abcdefabcdefabcd' });
  assert.equal(src.spanId(), 'abcdefabcdefabcd');
  assert.match(src.traceId(), /^[0-9a-f]{32}$/);
  const bad = makeIdSource({ spanId: () => 'ABC' });
  assert.throws(() => bad.spanId(), /idGenerator\.spanId\(\) must return 16 lowercase hex/);
});

test('ratio sampling depends on the trace id alone', () => {
  assert.equal(sampledByRatio('f'.repeat(32), 1), true);
  assert.equal(sampledByRatio('0'.repeat(31) + '1', 0), false);
  assert.equal(sampledByRatio('00000000000000000000000000000001', 0.5), true);
  assert.equal(sampledByRatio('ffffffffffffffffffffffffffffffff', 0.5), false);
  let kept = 0;
  const ids = new RandomIds();
  for (let i = 0; i < 20_000; i++) if (sampledByRatio(ids.traceId(), 0.25)) kept++;
  assert.ok(kept > 4500 && kept < 5500, `kept ${kept} of 20000 at 0.25`);
});
