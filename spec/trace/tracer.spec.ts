// The tracer on its own: ending spans into the exporter, failing them with an exception event,
// the timeout sweep over any table of open spans, sampling, when span_keys may be checked late,
// and shutdown. No middleware, no host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracer } from '../../lib/trace/tracer.ts';
import { Span, SpanKind, FLAGS_LOCAL_PARENT } from '../../lib/trace/span.ts';
import { resolveConfig, type SetupOptions } from '../../lib/config/config.ts';
import { InMemoryExporter } from '../../lib/index.ts';
import { fakeClock, flatten, seqIds, HEX } from '../helpers/tracing.ts';

function tracer(options: SetupOptions = {}) {
  const mem = new InMemoryExporter();
  const clock = fakeClock();
  const warnings: string[] = [];
  const config = resolveConfig(
    { exporter: mem, clock: clock.fn, idGenerator: seqIds(), logger: (m) => warnings.push(m), ...options },
    {},
    ['node', 'svc.js'],
  );
  const t = new Tracer(config);
  const spans = async () => {
    await t.forceFlush();
    return flatten(mem.parsed());
  };
  return { t, mem, clock, warnings, spans };
}

const root = (t: Tracer, name: string) =>
  Span.create({
    name,
    kind: SpanKind.INTERNAL,
    traceId: HEX,
    spanId: t.ids.spanId(),
    flags: FLAGS_LOCAL_PARENT,
    start: t.clock.now(),
  });

test('end: the span gets its end time by the tracer clock and is exported as it is', async () => {
  const { t, spans } = tracer();
  const s = root(t, 'job');
  t.end(s);
  const [out] = await spans();
  const { name, kind, traceId, spanId, parentSpanId, status } = out!;
  assert.deepEqual(
    { name, kind, traceId, spanId, parentSpanId, status },
    { name: 'job', kind: 1, traceId: HEX, spanId: '0000000000000001', parentSpanId: undefined, status: undefined },
  );
  assert.equal(out!.end - out!.start, 250_000n, 'one clock step of the fake clock');
  assert.equal(out!.service, 'svc-0');
  assert.deepEqual(t.stats().exported, 1);
  await t.shutdown();
});

test('fail: ERROR with the message, and an exception event at the end time for an error', async () => {
  const { t, spans } = tracer();
  t.fail(root(t, 'a'), 'handler failed', new RangeError('too far'));
  t.fail(root(t, 'b'), 'no afterRouting');
  const [a, b] = await spans();
  assert.deepEqual(a!.status, { code: 2, message: 'handler failed' });
  const events = a!.events.map((e) => [e.name, e.attributes['exception.type'], e.attributes['exception.message']]);
  assert.deepEqual(events, [['exception', 'RangeError', 'too far']]);
  assert.deepEqual(b!.status, { code: 2, message: 'no afterRouting' });
  assert.deepEqual(b!.events, []);
  await t.shutdown();
});

test('sweep: every watched table gives up its spans started too long ago, ended as ERROR naming the hook', async () => {
  const { t, clock, spans } = tracer({ spanTimeoutMillis: 1000 });
  const asked: number[] = [];
  const old = root(t, 'old');
  const takeStarted = (before: number) => {
    asked.push(before);
    return before > old.start ? [old] : [];
  };
  t.watch({ takeStarted }, 'afterProcess');
  t.watch({ takeStarted: () => [] }, 'afterRouting');
  t.sweep();
  assert.deepEqual(await spans(), [], 'nothing old enough yet');
  clock.advance(2_000_000_000n);
  t.sweep();
  const [swept] = await spans();
  assert.equal(swept!.name, 'old');
  assert.deepEqual(swept!.status, { code: 2, message: 'no afterProcess within 1000 ms; span ended by timeout' });
  assert.equal(asked.length, 2);
  assert.ok(asked[1]! - asked[0]! > 1.9e9, 'the cut-off follows the tracer clock');
  await t.shutdown();
});

test('a table that throws in the sweep is reported, never thrown', async () => {
  const { t, warnings } = tracer();
  t.watch(
    {
      takeStarted: () => {
        throw new Error('broken table');
      },
    },
    'afterRouting',
  );
  assert.doesNotThrow(() => t.sweep());
  assert.deepEqual(warnings, ['[ekosis-otlp-traces] open-span sweep failed: Error: broken table']);
  await t.shutdown();
});

test('a table that throws a value String() cannot print in the sweep: reported, never thrown', async () => {
  const { t, warnings } = tracer();
  t.watch(
    {
      takeStarted: () => {
        throw Object.create(null);
      },
    },
    'afterRouting',
  );
  assert.doesNotThrow(() => t.sweep());
  assert.deepEqual(warnings, ['[ekosis-otlp-traces] open-span sweep failed: unknown error']);
  await t.shutdown();
});

test('span_keys are checked late only with no sampler and no id generator to consult at start', async () => {
  const cases: [SetupOptions, boolean][] = [
    [{ idGenerator: undefined }, true],
    [{}, false],
    [{ idGenerator: undefined, sampler: 0.5 }, false],
  ];
  for (const [options, lazy] of cases) {
    const { t } = tracer(options);
    assert.equal(t.lazyKeys, lazy, JSON.stringify(options));
    await t.shutdown();
  }
});

test('sampled: decided by the trace id alone, in either of its forms', async () => {
  const { t } = tracer({ sampler: 0.5 });
  const low = '00000000000000000000000000000001';
  const high = 'ffffffffffffffffffffffffffffffff';
  assert.deepEqual([t.sampled(low), t.sampled(high)], [true, false]);
  assert.equal(t.sampled('00000000-0000-0000-0000-000000000001'), true);
  await t.shutdown();
});

test('shutdown: inactive at once, flushes what was ended, idempotent', async () => {
  const { t, mem } = tracer();
  assert.equal(t.active, true);
  t.end(root(t, 'last'));
  const done = t.shutdown();
  assert.equal(t.active, false);
  await done;
  await t.shutdown();
  assert.equal(mem.spans.length, 1);
  assert.equal(t.stats().exported, 1);
});

test('disabled: inactive from the start', async () => {
  const { t } = tracer({ enabled: false });
  assert.equal(t.active, false);
  await t.shutdown();
});
