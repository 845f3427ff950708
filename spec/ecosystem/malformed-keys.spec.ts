// Malformed span keys are "traced as well as they can be" (issue 13 items 10-12): the active
// span is still found for outgoingSpanKey and beforePush, a hop stays one trace, process spans
// keep their receive parent and always meet their afterProcess, and camelCase keys are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, dto, flatten, KEY, type FlatSpan } from '../helpers/tracing.ts';

const BAD_KEYS: [string, unknown][] = [
  ['a trace_id that is no UUID', { trace_id: 'not-a-uuid', span_id: KEY.span_id }],
  ['both fields unusable', { trace_id: 42, span_id: 'nope' }],
  ['an empty object', {}],
];

// Both ways a span_key is checked: at start (id generator given) and at export (none).
const MODES: [string, object][] = [
  ['checked at start', {}],
  ['checked at export', { idGenerator: undefined }],
];

for (const [mode, opts] of MODES) {
  for (const [what, key] of BAD_KEYS) {
    test(`invalid span_key (${what}, ${mode}): outgoingSpanKey forwards the trace actually used`, async () => {
      const front = setup({ appName: 'tracker', ...opts });
      const back = setup({ appName: 'billing', ...opts });
      back.host.endpoint('billing.charge', () => 'charged');
      let forwarded: unknown;
      front.host.endpoint('tracker.log_request', async (d) => {
        forwarded = front.tracer.outgoingSpanKey(d.span_key);
        return back.host.request(dto('billing.charge', forwarded));
      });
      assert.equal(await front.host.request(dto('tracker.log_request', key)), 'charged');
      const [f] = await front.spans();
      const [b] = await back.spans();
      assert.equal(f!.attributes['request.span_key_invalid'], true);
      assert.deepEqual(forwarded, { trace_id: f!.attributes['request.trace_id'], span_id: f!.spanId });
      assert.equal(b!.traceId, f!.traceId, 'one trace across the hop');
      assert.equal(b!.parentSpanId, f!.spanId, 'the downstream span is the child of the upstream one');
      assert.equal(b!.attributes['request.span_key_invalid'], undefined, 'the forwarded key is a good one');
      await front.shutdown();
      await back.shutdown();
    });

    test(`invalid span_key (${what}, ${mode}): the process span keeps its receive parent and trace`, async () => {
      const t = setup(opts);
      t.host.bufferedEndpoint('tracker.log_request_fail', () => true);
      await t.host.request(dto('tracker.log_request_fail', key, { n: 1 }));
      const [entry] = t.host.pending('tracker.log_request_fail');
      assert.ok(entry!.metadata.otlp_receive_span_id, 'beforePush found the receive span');
      await t.host.drain();
      const [receive, attempt] = await t.spans();
      assert.equal(attempt!.parentSpanId, receive!.spanId);
      assert.equal(attempt!.traceId, receive!.traceId);
      assert.equal(attempt!.flags, 0x101, 'a local parent');
      assert.equal(attempt!.attributes['request.trace_id'], receive!.attributes['request.trace_id']);
      assert.equal(attempt!.attributes['request.span_key_invalid'], true);
      assert.equal(attempt!.status?.code, 1);
      await t.shutdown();
    });
  }
}

test('a restart between push and process: the stored trace id still joins the receive span', async () => {
  const t = setup();
  t.host.bufferedEndpoint('q', () => true);
  await t.host.request(dto('q', { trace_id: 'nope', span_id: 'nope' }));
  const saved = t.host.snapshot();
  const [receive] = await t.spans();
  await t.shutdown();
  const after = setup();
  after.host.bufferedEndpoint('q', () => true);
  after.host.restore(saved);
  await after.host.drain();
  const [attempt] = await after.spans();
  assert.equal(attempt!.traceId, receive!.traceId);
  assert.equal(attempt!.parentSpanId, receive!.spanId);
  await after.shutdown();
});

const PAYLOADS: [string, unknown, unknown][] = [
  ['a number payload, invalid span_key', 42, { trace_id: 'garbage', span_id: 'x' }],
  ['a string payload, no span_key', 'text', null],
  ['a null payload, a string span_key', null, 'uuid:hex'],
  ['a number payload, valid span_key', 7, KEY],
];

for (const [what, payload, key] of PAYLOADS) {
  test(`buffered endpoint with ${what}: afterProcess ends its own span, a success is exported OK`, async () => {
    const t = setup({ spanTimeoutMillis: 1000 });
    let attempt = 0;
    t.host.bufferedEndpoint('q', () => ++attempt > 1, { maxRetries: 3 });
    // two entries at once, so that matching by "the newest span" cannot pass by luck
    await t.host.request(dto('q', key, payload));
    await t.host.request(dto('q', key, payload));
    await t.host.drain();
    assert.equal(t.buffered.open.size, 0, 'every attempt met its afterProcess');
    t.clock.advance(5_000_000_000n);
    t.tracer.tracer.sweep();
    const processed = (await t.spans()).filter((s: FlatSpan) => s.kind === 5);
    assert.deepEqual(
      processed.map((s) => [s.status, s.attributes['process.success'], s.attributes['request.retries']]),
      [
        [{ code: 2, message: 'process attempt failed' }, false, { int: '0' }],
        [{ code: 1 }, true, { int: '0' }],
        [{ code: 1 }, true, { int: '1' }],
      ],
    );
    await t.shutdown();
  });
}

test('a success is not lost at shutdown: matched at once, exported by the shutdown flush', async () => {
  const t = setup();
  const metadata = {};
  await t.buffered.beforeProcess(undefined as never, 5, metadata, 0);
  await t.buffered.afterProcess(undefined as never, 5, metadata, true);
  await t.shutdown();
  const [s] = flatten(t.mem.parsed());
  assert.equal(s!.status?.code, 1);
  assert.equal(s!.attributes['process.success'], true);
});

test('camelCase span_key fields: one rate-limited warning saying why span keys are unusable', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  for (let i = 0; i < 5; i++) await t.host.request(dto('r', { traceId: KEY.trace_id, spanId: KEY.span_id }));
  const lines = t.warnings.filter((w) => /span_key/.test(w));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.equal(
    lines[0],
    '[ekosis-otlp-traces] unusable span_key: it has traceId, spanId (camelCase or another spelling); EcoSystem ' +
      'span keys have trace_id and span_id. Each such request starts a new trace (flagged ' +
      'request.span_key_invalid) and cannot be linked to its caller',
  );
  const spans = await t.spans();
  assert.equal(spans.length, 5);
  for (const s of spans) assert.equal(s.attributes['request.span_key_invalid'], true);
  await t.shutdown();
});

test('a span_key passed as a string (e.g. Python str(span_key)) is reported too', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r', `${KEY.trace_id}:${KEY.span_id}`));
  const lines = t.warnings.filter((w) => /span_key/.test(w));
  assert.equal(lines.length, 1);
  const said = 'unusable span_key: it is a string; EcoSystem span keys are objects with trace_id and span_id.';
  assert.ok(lines[0]!.includes(said), lines[0]);
  await t.shutdown();
});

test('other spellings are named as they came: TraceID, span-id', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r', { TraceID: KEY.trace_id, 'span-id': KEY.span_id, other: 1 }));
  const lines = t.warnings.filter((w) => /span_key/.test(w));
  assert.match(lines[0]!, /it has TraceID, span-id \(camelCase or another spelling\)/);
  await t.shutdown();
});

test('valid span keys and a missing span_key log nothing', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r'));
  await t.host.request(dto('r', null));
  assert.deepEqual(t.warnings, []);
  await t.shutdown();
});
