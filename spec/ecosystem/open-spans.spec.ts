// The open-span table on its own: filing and finding by key object, by span_key object, by
// span_key value; the cap; the timeout sweep's takeStarted. No tracer involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenSpans } from '../../lib/ecosystem/open-spans.ts';
import { Span, SpanKind } from '../../lib/trace/span.ts';
import { KEY } from '../helpers/tracing.ts';

function table(cap = 100) {
  const evicted: [string, string][] = [];
  const open = new OpenSpans({ cap, what: 'requests', evicted: (span, message) => evicted.push([span.name, message]) });
  return { open, evicted };
}

/** A request span of a span_key, as the middleware starts one. */
function span(name: string, spanKey: unknown = KEY, start = 0): Span {
  return Span.fromSpanKey(name, SpanKind.SERVER, spanKey, start);
}

test('a span is taken back by the key object it was filed under, newest slot or Map', () => {
  const { open } = table();
  const a = { n: 'a' };
  const b = { n: 'b' };
  const sa = span('a');
  const sb = span('b');
  open.add(a, sa);
  assert.equal(open.size, 1);
  open.add(b, sb);
  assert.equal(open.size, 2);
  assert.equal(open.take(a, KEY), sa, 'from the Map');
  assert.equal(open.take(b, KEY), sb, 'from the newest slot');
  assert.equal(open.size, 0);
  assert.equal(open.take(a, KEY), undefined);
  for (const s of [sa, sb]) assert.deepEqual([s.key, s.spanKey], [null, undefined], 'no host object kept once taken');
});

test('a key that is no object, or one already in use: found by span_key, oldest first', () => {
  const { open } = table();
  const dto = {};
  const first = span('first');
  const second = span('second');
  const third = span('third', { ...KEY });
  open.add(dto, first);
  open.add(dto, second); // the same DTO object twice at once
  open.add(7, third);
  assert.equal(open.take(dto, KEY), first, 'the older span keeps the DTO');
  assert.equal(open.take(7, { ...KEY }), second, 'then by span_key value, oldest first');
  assert.equal(open.take(7, { ...KEY }), third);
  assert.equal(open.size, 0);
});

test('take prefers the span started with this very span_key object over an equal older one', () => {
  const { open } = table();
  const mine = { ...KEY };
  const older = span('older', { ...KEY });
  const own = span('own', mine);
  open.add('token', older);
  open.add('token', own);
  assert.equal(open.take({}, mine), own);
  assert.equal(open.take({}, { ...KEY }), older);
});

test('find: the span started with this span_key object, else the newest of its value', () => {
  const { open } = table();
  const keyA = { ...KEY };
  const keyB = { ...KEY };
  const a = span('a', keyA);
  const b = span('b', keyB);
  open.add({}, a);
  open.add({}, b);
  assert.equal(open.find(keyA), a, 'equal span_keys are told apart by object');
  assert.equal(open.find(keyB), b);
  assert.equal(open.find({ trace_id: KEY.trace_id.toUpperCase(), span_id: KEY.span_id }), b, 'by value: the newest');
  assert.equal(open.find({ trace_id: KEY.trace_id, span_id: 'unusable' }), b, 'no usable span_id: any caller');
  assert.equal(open.find({ trace_id: KEY.trace_id, span_id: '1111111111111111' }), undefined, 'another caller');
  assert.equal(open.find(undefined), undefined);
});

test('find and take: a span_key with an unusable trace id is found by its object alone', () => {
  const { open } = table();
  const bad = { trace_id: 'garbage', span_id: 'x' };
  const looksTheSame = { trace_id: 'garbage', span_id: 'x' };
  const s = span('bad', bad);
  open.add({}, s);
  open.add({}, span('later', { trace_id: 'garbage', span_id: 'x' }));
  open.add({}, span('valid'));
  assert.equal(open.find(bad), s, 'not the newest span, still found');
  assert.equal(open.find(looksTheSame), undefined, 'an equal but other object: another request');
  assert.equal(open.take({}, bad), s);
  assert.equal(open.find(bad), undefined);
});

test('the cap: past it the oldest span is evicted through the callback', () => {
  const { open, evicted } = table(3);
  const spans = ['s1', 's2', 's3', 's4', 's5'].map((name) => span(name));
  for (const s of spans) open.add({}, s);
  assert.equal(open.size, 3);
  assert.deepEqual(evicted, [
    ['s1', 'more than 3 requests open at once; oldest span ended early'],
    ['s2', 'more than 3 requests open at once; oldest span ended early'],
  ]);
  assert.equal(spans[0]!.key, null, 'an evicted span is out of the table');
});

test('takeStarted: the spans started before a time, oldest first, removed', () => {
  const { open } = table();
  const keys = [{}, {}, {}, {}];
  const spans = [30, 10, 50, 20].map((start, i) => span(`s${i}`, KEY, start));
  spans.forEach((s, i) => open.add(keys[i], s));
  assert.deepEqual(
    open.takeStarted(40).map((s) => s.name),
    ['s0', 's1', 's3'],
  );
  assert.equal(open.size, 1);
  assert.equal(open.take(keys[2], KEY), spans[2]);
  assert.deepEqual(open.takeStarted(Infinity), []);
});

test('the by-trace index, once built, follows adds and removes', () => {
  const { open } = table();
  const other = { trace_id: '11111111-2222-4333-8444-555555555555', span_id: KEY.span_id };
  const a = span('a');
  open.add({}, a);
  assert.equal(open.find({ ...KEY }), a, 'builds the index');
  const b = span('b', other);
  open.add({}, b);
  assert.equal(open.find({ ...other }), b, 'a span added later is in it');
  open.takeStarted(Infinity);
  assert.equal(open.find({ ...KEY }), undefined, 'removed spans are out of it');
  assert.equal(open.find({ ...other }), undefined);
});
