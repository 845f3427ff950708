// The retry policy's pure parts: backoff with jitter, and Retry-After as a server may send it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY, backoffMillis, retryAfterMillis, sleep } from '../../lib/export/retry.ts';

const policy = { ...DEFAULT_RETRY, initialBackoffMillis: 100, maxBackoffMillis: 1000 };

test('backoff doubles per attempt up to the cap, jittered between half and the whole step', () => {
  const least = (attempt: number) => backoffMillis(attempt, policy, () => 0);
  const most = (attempt: number) => backoffMillis(attempt, policy, () => 1);
  const steps = [1, 2, 3, 4, 5, 6].map((attempt) => [least(attempt), most(attempt)]);
  assert.deepEqual(steps, [
    [50, 100],
    [100, 200],
    [200, 400],
    [400, 800],
    [500, 1000],
    [500, 1000],
  ]);
});

test('Retry-After: delay-seconds and the three HTTP-date forms, capped; a date past is now', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cap = 30_000;
  assert.equal(retryAfterMillis('7', cap, now), 7000);
  assert.equal(retryAfterMillis(' 0 ', cap, now), 0);
  assert.equal(retryAfterMillis('3600', cap, now), cap);
  assert.equal(retryAfterMillis('Thu, 01 Jan 2026 00:00:05 GMT', cap, now), 5000);
  assert.equal(retryAfterMillis('Thursday, 01-Jan-26 00:00:05 GMT', cap, now), 5000);
  assert.equal(retryAfterMillis('Thu Jan  1 00:00:05 2026', cap, now), undefined, 'asctime without GMT: not trusted');
  assert.equal(retryAfterMillis('Wed, 31 Dec 2025 23:59:00 GMT', cap, now), 0);
});

test('Retry-After that is absent, negative, signed or not a date is ignored (undefined: the backoff applies)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const ignored = [null, '', '-5', '-0', '+5', '1e3', 'soon', '5 seconds', '2026-01-01T00:00:05Z'];
  ignored.push('Thu, 99 Foo 2026 00:00:05 GMT');
  for (const value of ignored) {
    assert.equal(retryAfterMillis(value, 30_000, now), undefined, JSON.stringify(value));
  }
});

test('sleep resolves true after its time, false at once on abort, and never holds the process', async () => {
  const ctl = new AbortController();
  assert.equal(await sleep(5, ctl.signal), true);
  const t0 = performance.now();
  const pending = sleep(10_000, ctl.signal);
  ctl.abort();
  assert.equal(await pending, false);
  assert.ok(performance.now() - t0 < 100);
  assert.equal(await sleep(10_000, ctl.signal), false, 'an aborted signal: at once');
});
