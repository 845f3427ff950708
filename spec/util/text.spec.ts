// The shared helpers of lib/util/text.ts: messages from anything thrown, never a throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeValue, errorMessage, errorText, oneLine, SecondDigits } from '../../lib/util/text.ts';

test('errorMessage and errorText describe anything thrown, and never throw themselves', () => {
  const noPrototype = Object.create(null) as object; // String() of it throws a TypeError
  const hostile = { toString: () => { throw new Error('no'); } };
  assert.equal(errorMessage(new RangeError('too big')), 'too big');
  assert.equal(errorText(new RangeError('too big')), 'RangeError: too big');
  assert.equal(errorText(Object.assign(new Error('x'), { name: '' })), 'Error: x');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorText(42), '42');
  for (const thrown of [noPrototype, hostile]) {
    assert.equal(errorMessage(thrown), 'unknown error');
    assert.equal(errorText(thrown), 'unknown error');
  }
});

test('oneLine joins lines with one space', () => {
  assert.equal(oneLine('a\n  b\r\nc  \n d'), 'a b c d');
});

test('describeValue: strings quoted and cut at 40, other kinds by name', () => {
  assert.equal(describeValue('x'.repeat(41)), `"${'x'.repeat(40)}…"`);
  assert.equal(describeValue('a\nb'), '"a\\nb"');
  assert.deepEqual(
    [undefined, null, [], {}, () => 1, 7, false].map(describeValue),
    ['nothing', 'null', 'an array', 'an object', 'a function', '7', 'false'],
  );
});

test('SecondDigits prints a second once and follows it when it changes', () => {
  const digits = new SecondDigits();
  assert.equal(digits.of(1795500582), '1795500582');
  assert.equal(digits.of(1795500582), '1795500582');
  assert.equal(digits.of(1795500583), '1795500583');
});
