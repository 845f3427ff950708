import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  encodeBatch,
  encodeBatchBytes,
  encodeSpan,
  anyValue,
  type EncoderOptions,
} from '../../lib/otlp-json/encode.ts';
import { Span, SpanKind, FLAGS_REMOTE_PARENT } from '../../lib/trace/span.ts';
import { makeClock, epochNanos } from '../../lib/trace/clock.ts';

/** A span whose parent is the caller of the usual request span (remote). */
const CALLER = { parentSpanId: '9c7e5a3b1d0f2e4c', flags: FLAGS_REMOTE_PARENT };

const clock = makeClock(() => 1_767_225_600_123_456_789n);
const opts: EncoderOptions = {
  resource: { 'service.name': 'tracker-0' },
  scopeName: 'ekosis-otlp-traces',
  scopeVersion: '9.9.9',
  valueLengthLimit: Infinity,
  clock,
};

function span(attrs: unknown[] = [], name = 'tracker.log_request'): Span {
  const s = Span.create({
    name,
    kind: SpanKind.SERVER,
    traceId: '3f2a1b4c5d6e4f8091a2b3c4d5e6f708',
    spanId: '0000000000000001',
    parentSpanId: '9c7e5a3b1d0f2e4c',
    flags: FLAGS_REMOTE_PARENT,
    start: 0,
    attributes: attrs,
  });
  s.end = 1_500_000;
  s.statusCode = 1;
  return s;
}

test('timestamps are decimal epoch nanoseconds, exact beyond 2^53', () => {
  assert.equal(epochNanos(clock, 0), '1767225600000000000');
  assert.equal(epochNanos(clock, 123_456_789), '1767225600123456789');
  assert.equal(epochNanos(clock, 5_000_000_001), '1767225605000000001');
});

test('one span, every rule of the JSON mapping', () => {
  assert.equal(
    encodeSpan(span(['s', 'x', 'b', true, 'i', 42, 'd', 1.5, 'a', ['p', 'q']]), opts),
    '{"traceId":"3f2a1b4c5d6e4f8091a2b3c4d5e6f708","spanId":"0000000000000001","parentSpanId":"9c7e5a3b1d0f2e4c",' +
      '"flags":769,"name":"tracker.log_request","kind":2,"startTimeUnixNano":"1767225600000000000",' +
      '"endTimeUnixNano":"1767225600001500000","attributes":[{"key":"s","value":{"stringValue":"x"}},' +
      '{"key":"b","value":{"boolValue":true}},{"key":"i","value":{"intValue":"42"}},' +
      '{"key":"d","value":{"doubleValue":1.5}},' +
      '{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"p"},{"stringValue":"q"}]}}}],"status":{"code":1}}',
  );
});

test('defaults are omitted: no parent, no attributes, unset status, no events', () => {
  const s = Span.create({
    name: 'root',
    kind: SpanKind.INTERNAL,
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    flags: 0x101,
    start: 0,
    attributes: [],
  });
  s.end = 0;
  const json = encodeSpan(s, opts);
  assert.equal(
    json,
    '{"traceId":"' + 'a'.repeat(32) + '","spanId":"' + 'b'.repeat(16) + '","flags":257,"name":"root","kind":1,' +
      '"startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225600000000000"}',
  );
});

test('attribute values: unsafe integers, bigint, non-finite numbers, null and objects', () => {
  assert.equal(anyValue(2 ** 53, Infinity), '{"doubleValue":9007199254740992}');
  assert.equal(anyValue(-7, Infinity), '{"intValue":"-7"}');
  assert.equal(anyValue(9223372036854775807n, Infinity), '{"intValue":"9223372036854775807"}');
  assert.equal(anyValue(1n << 64n, Infinity), '{"stringValue":"18446744073709551616"}');
  assert.equal(anyValue(NaN, Infinity), '{"stringValue":"NaN"}');
  assert.equal(anyValue(-Infinity, Infinity), '{"stringValue":"-Infinity"}');
  assert.equal(anyValue(null, Infinity), null);
  assert.equal(anyValue({}, Infinity), null);
  assert.equal(
    anyValue([1, null, true], Infinity),
    '{"arrayValue":{"values":[{"intValue":"1"},{},{"boolValue":true}]}}',
  );
  assert.equal(anyValue([], Infinity), '{"arrayValue":{}}');
  // an attribute whose value cannot be encoded is left out, the rest stays
  assert.match(
    encodeSpan(span(['gone', undefined, 'kept', 1]), opts),
    /"attributes":\[\{"key":"kept","value":\{"intValue":"1"\}\}\]/,
  );
});

test('lone surrogates become U+FFFD; pairs and escapes survive; the JSON stays valid UTF-8', () => {
  const s = span(['k\uD800', 'a\uDC00b\uD83D\uDE00"\n\\'], 'name\uDBFF');
  const json = encodeSpan(s, opts);
  const back = JSON.parse(json);
  assert.equal(back.name, 'name\uFFFD');
  assert.equal(back.attributes[0].key, 'k\uFFFD');
  assert.equal(back.attributes[0].value.stringValue, 'a\uFFFDb\uD83D\uDE00"\n\\');
  assert.doesNotMatch(json, /\\ud[89a-f]/i);
  // re-encoding as UTF-8 and decoding strictly must give the same text
  const bytes = new TextEncoder().encode(json);
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(bytes), json);
});

test('value length limit cuts strings (and never splits a surrogate pair)', () => {
  const o = { ...opts, valueLengthLimit: 4 };
  const back = JSON.parse(encodeSpan(span(['s', 'abcdefgh', 'e', 'abc\uD83D\uDE00', 'arr', ['123456']]), o));
  assert.equal(back.attributes[0].value.stringValue, 'abcd');
  assert.equal(back.attributes[1].value.stringValue, 'abc');
  assert.equal(back.attributes[2].value.arrayValue.values[0].stringValue, '1234');
});

test('a huge string attribute encodes to valid JSON', () => {
  const big = 'x'.repeat(5_000_000);
  const back = JSON.parse(encodeSpan(span(['big', big]), opts));
  assert.equal(back.attributes[0].value.stringValue.length, 5_000_000);
});

test('a batch: one resourceSpans, one scopeSpans, resource and scope', () => {
  const body = encodeBatch([span(), span([], 'second')], opts);
  const doc = JSON.parse(body);
  assert.deepEqual(Object.keys(doc), ['resourceSpans']);
  assert.equal(doc.resourceSpans.length, 1);
  assert.deepEqual(doc.resourceSpans[0].resource, {
    attributes: [{ key: 'service.name', value: { stringValue: 'tracker-0' } }],
  });
  assert.equal(doc.resourceSpans[0].scopeSpans.length, 1);
  assert.deepEqual(doc.resourceSpans[0].scopeSpans[0].scope, { name: 'ekosis-otlp-traces', version: '9.9.9' });
  assert.deepEqual(
    doc.resourceSpans[0].scopeSpans[0].spans.map((s: { name: string }) => s.name),
    ['tracker.log_request', 'second'],
  );
});

test('an attribute key whose toString encodes another batch leaves the outer body intact', () => {
  let calls = 0;
  const key = {
    toString() {
      calls++;
      encodeBatchBytes([span(['inner', 'x'])], opts); // e.g. a flush from inside user code
      return 'outer.key';
    },
  };
  const body = new TextDecoder().decode(encodeBatchBytes([span(), span([key, 1]), span()], opts));
  const spans = JSON.parse(body).resourceSpans[0].scopeSpans[0].spans;
  assert.equal(spans.length, 3);
  assert.deepEqual(spans[1].attributes, [{ key: 'outer.key', value: { intValue: '1' } }]);
  // only string keys are cached: an object's toString runs for every span
  encodeBatchBytes([span([key, 2])], opts);
  assert.equal(calls, 2);
});

test('the same input gives the same bytes', () => {
  assert.equal(encodeBatch([span(['x', 1])], opts), encodeBatch([span(['x', 1])], opts));
});

test('an injected clock never runs backwards', () => {
  const readings = [5_000n, 9_000n, 7_000n, 12_000n];
  const c = makeClock(() => readings.shift() ?? 12_000n);
  const a = c.now();
  const b = c.now();
  const d = c.now();
  assert.ok(b >= a && d >= b, `${a} ${b} ${d}`);
});

test('the default clock is epoch-based and monotonic', () => {
  const c = makeClock();
  const before = BigInt(Date.now()) * 1_000_000n;
  let prev = c.now();
  for (let i = 0; i < 10_000; i++) {
    const t = c.now();
    assert.ok(t >= prev);
    prev = t;
  }
  const ns = BigInt(epochNanos(c, prev));
  assert.ok(ns >= before - 5_000_000n && ns <= before + 5_000_000_000n, `${ns} vs ${before}`);
});

test('the per-route template gives the same bytes as the general writer', () => {
  const uuid = '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708';
  for (const name of ['tracker.log_request', 'журнал "q" \\ 🚀', 'x\uD800y', 'a'.repeat(300)]) {
    for (const limit of [Infinity, 8]) {
      const o = { ...opts, valueLengthLimit: limit };
      const fast = Span.create({
        name,
        kind: SpanKind.SERVER,
        traceId: uuid,
        spanId: '00000000000000aa',
        ...CALLER,
        start: 1_234_567_891,
      });
      fast.callerId = '9c7e5a3b1d0f2e4c';
      fast.end = 9_876_543_210_123;
      fast.statusCode = 1;
      // the same span with its attributes spelled out takes the general path
      const slow = Span.create({
        name,
        kind: SpanKind.SERVER,
        traceId: uuid,
        spanId: '00000000000000aa',
        ...CALLER,
        start: 1_234_567_891,
        attributes: ['request.trace_id', uuid, 'request.span_id', '9c7e5a3b1d0f2e4c', 'request.route_key', name],
      });
      slow.callerId = '9c7e5a3b1d0f2e4c';
      slow.end = 9_876_543_210_123;
      slow.statusCode = 1;
      assert.equal(encodeSpan(fast, o), encodeSpan(slow, o), `${name.slice(0, 20)} limit ${limit}`);
      assert.equal(encodeBatch([fast, fast], o), encodeBatch([slow, slow], o));
      JSON.parse(encodeBatch([fast], o));
    }
  }
});

test('request spans without an attribute array still honour the value length limit', () => {
  const s = Span.create({
    name: 'route',
    kind: SpanKind.SERVER,
    traceId: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708',
    spanId: '00000000000000aa',
    ...CALLER,
    start: 0,
  });
  s.callerId = '9c7e5a3b1d0f2e4c';
  s.end = 5;
  const back = JSON.parse(encodeSpan(s, { ...opts, valueLengthLimit: 4 }));
  assert.deepEqual(back.attributes.map((a: any) => a.value.stringValue), ['3f2a', '9c7e', 'rout']);
  assert.equal(back.status, undefined);
});

test('lib/otlp-json keeps no module-level mutable state (each encoder and each body has its own)', () => {
  const dir = new URL('../../lib/otlp-json/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('encode.ts'));
  for (const file of files) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    // Top level: no variables, no shared collections (caches belong to an encoder).
    assert.doesNotMatch(source, /^(export )?(let|var) /m, file);
    assert.doesNotMatch(source, /^(export )?const \w+(: [^=]+)? = new (Map|Set|WeakMap|Array|Uint8Array)\b/m, file);
  }
});
