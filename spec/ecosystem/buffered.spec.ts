// Buffered endpoints through the in-process host: receive span, one CONSUMER span per attempt,
// parents across the queue, retries, the error queue and restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, dto, KEY, HEX, type FlatSpan } from '../helpers/tracing.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import { BufferedMiddlewareBase, type SpanKey } from '../../lib/index.ts';

class LogRequestFailDTO {
  constructor(readonly data: unknown) {}
}

function shape(s: FlatSpan) {
  return {
    name: s.name,
    kind: s.kind,
    parent: s.parentSpanId,
    flags: s.flags,
    status: s.status,
    attributes: s.attributes,
  };
}

const PROCESS_ATTRS = {
  'request.trace_id': KEY.trace_id,
  'request.span_id': KEY.span_id,
  'request.route_key': 'tracker.log_request_fail',
};

test('buffered: receive span, failed attempt, successful retry, all linked through metadata', async () => {
  const t = setup();
  let attempt = 0;
  t.host.bufferedEndpoint('tracker.log_request_fail', () => ++attempt > 1, { model: LogRequestFailDTO, maxRetries: 3 });
  assert.deepEqual(await t.host.request(dto('tracker.log_request_fail')), { status: 'queued' });
  const queued = t.host.pending('tracker.log_request_fail')[0]!;
  assert.deepEqual(queued.metadata, {
    otlp_receive_span_id: '0000000000000001',
    otlp_route_key: 'tracker.log_request_fail',
  });
  await t.host.drain();
  const [receive, first, retry] = await t.spans();
  assert.deepEqual(shape(receive!), {
    name: 'tracker.log_request_fail',
    kind: 2,
    parent: KEY.span_id,
    flags: 0x301,
    status: { code: 1 },
    attributes: PROCESS_ATTRS,
  });
  assert.deepEqual(shape(first!), {
    name: 'LogRequestFailDTO.process',
    kind: 5,
    parent: receive!.spanId,
    flags: 0x101,
    status: { code: 2, message: 'process attempt failed' },
    attributes: { ...PROCESS_ATTRS, 'request.retries': { int: '0' }, 'process.success': false },
  });
  assert.deepEqual(shape(retry!), {
    name: 'LogRequestFailDTO.process',
    kind: 5,
    parent: receive!.spanId,
    flags: 0x101,
    status: { code: 1 },
    attributes: { ...PROCESS_ATTRS, 'request.retries': { int: '1' }, 'process.success': true },
  });
  for (const s of [receive, first, retry]) assert.equal(s!.traceId, HEX);
  assert.ok(first!.start >= receive!.end, 'processing starts after the receive span ended');
  assert.equal(t.buffered.open.size, 0);
  await t.shutdown();
});

test('error queue and reprocessing keep the original metadata and parent', async () => {
  const t = setup();
  let healthy = false;
  t.host.bufferedEndpoint('tracker.log_request_fail', () => healthy, { model: LogRequestFailDTO, maxRetries: 2 });
  await t.host.request(dto('tracker.log_request_fail'));
  await t.host.drain();
  assert.equal(t.host.errorQueue('tracker.log_request_fail').length, 1);
  healthy = true;
  assert.equal(t.host.reprocessErrors('tracker.log_request_fail', KEY), 1);
  await t.host.drain();
  const spans = await t.spans();
  const receive = spans[0]!;
  const attempts = spans.slice(1);
  assert.deepEqual(
    attempts.map((s) => [s.parentSpanId, s.attributes['request.retries'], s.attributes['process.success']]),
    [
      [receive.spanId, { int: '0' }, false],
      [receive.spanId, { int: '1' }, false],
      [receive.spanId, { int: '0' }, true],
    ],
  );
  await t.shutdown();
});

test('after a restart: a new process links attempts to the receive span from metadata alone', async () => {
  const before = setup();
  before.host.bufferedEndpoint('tracker.log_request_fail', () => true, { model: LogRequestFailDTO });
  await before.host.request(dto('tracker.log_request_fail'));
  const [receive] = await before.spans();
  const saved = before.host.snapshot();
  await before.shutdown();

  // A new process: new tracer, new host, nothing in memory but the persisted queue.
  const after = setup({ idGenerator: { spanId: () => 'aaaaaaaaaaaaaaaa' } });
  after.host.bufferedEndpoint('tracker.log_request_fail', () => true, { model: LogRequestFailDTO });
  after.host.restore(saved);
  await after.host.drain();
  const [attempt] = await after.spans();
  assert.equal(attempt!.spanId, 'aaaaaaaaaaaaaaaa');
  assert.equal(attempt!.parentSpanId, receive!.spanId);
  assert.equal(attempt!.traceId, HEX);
  assert.equal(attempt!.flags, 0x101);
  assert.equal(attempt!.status?.code, 1);
  await after.shutdown();
});

test('metadata written by the Python tracer: the receive span id as an integer', async () => {
  for (const stored of [11276549726919405132n, '11276549726919405132', 255, '9C7E5A3B1D0F2E4C']) {
    const t = setup();
    const model = new LogRequestFailDTO({});
    await t.buffered.beforeProcess(KEY, model, { otlp_receive_span_id: stored }, 0);
    await t.buffered.afterProcess(KEY, model, { otlp_receive_span_id: stored }, true);
    const [s] = await t.spans();
    const expected = stored === 255 ? '00000000000000ff' : '9c7e5a3b1d0f2e4c';
    assert.equal(s!.parentSpanId, expected, `stored ${String(stored)}`);
    assert.equal(s!.flags, 0x101);
    await t.shutdown();
  }
});

test('no metadata (queued before tracing) or an unusable one: parent is span_key.span_id', async () => {
  for (const metadata of [
    {},
    { otlp_receive_span_id: 'garbage' },
    { otlp_receive_span_id: 0 },
    null,
    'x',
    { otlp_receive_span_id: -4 },
  ]) {
    const t = setup();
    const model = { plain: true };
    await t.buffered.beforeProcess(KEY, model, metadata as never, 2);
    await t.buffered.afterProcess(KEY, model, metadata as never, true);
    const [s] = await t.spans();
    assert.equal(s!.parentSpanId, KEY.span_id, JSON.stringify(metadata));
    assert.equal(s!.flags, 0x301, 'the caller is a remote parent');
    assert.equal(s!.name, 'buffered.process', 'plain object DTO and no route key');
    assert.deepEqual(s!.attributes, {
      'request.trace_id': KEY.trace_id,
      'request.span_id': KEY.span_id,
      'request.retries': { int: '2' },
      'process.success': true,
    });
    await t.shutdown();
  }
});

test('process span names: class name, else stored route key, else buffered.process', async () => {
  const t = setup();
  const cases: [unknown, unknown, string][] = [
    [new LogRequestFailDTO(1), { otlp_route_key: 'x.y' }, 'LogRequestFailDTO.process'],
    [{ a: 1 }, { otlp_route_key: 'tracker.log_request_fail' }, 'tracker.log_request_fail.process'],
    [Object.create(null), {}, 'buffered.process'],
    ['a string', {}, 'buffered.process'],
    [[1, 2], { otlp_route_key: 'r' }, 'r.process'],
  ];
  for (const [model, md] of cases) {
    await t.buffered.beforeProcess(KEY, model, md as never, 0);
    await t.buffered.afterProcess(KEY, model, md as never, true);
  }
  assert.deepEqual((await t.spans()).map((s) => s.name), cases.map((c) => c[2]));
  await t.shutdown();
});

test('beforePush without an active receive span gives {}', async () => {
  const t = setup();
  assert.deepEqual(await t.buffered.beforePush(KEY, {}), {});
  assert.deepEqual(await t.buffered.beforePush(null as never, {}), {});
  await t.shutdown();
});

test('the same span_key processed by two buffered endpoints at once: two process spans', async () => {
  const t = setup();
  const gates: (() => void)[] = [];
  const slow = () => new Promise<boolean>((r) => gates.push(() => r(true)));
  class A {
    constructor(readonly d: unknown) {}
  }
  class B {
    constructor(readonly d: unknown) {}
  }
  t.host.bufferedEndpoint('svc.a', slow, { model: A });
  t.host.bufferedEndpoint('svc.b', slow, { model: B });
  await t.host.request(dto('svc.a'));
  await t.host.request(dto('svc.b'));
  const drained = t.host.drain();
  while (gates.length < 2) await new Promise((r) => setImmediate(r));
  assert.equal(t.buffered.open.size, 2, 'both attempts open at the same time');
  gates[1]!();
  gates[0]!();
  await drained;
  const spans = await t.spans();
  const [ra, rb] = spans.filter((s) => s.kind === 2);
  const processes = spans.filter((s) => s.kind === 5);
  assert.deepEqual(processes.map((s) => s.name).sort(), ['A.process', 'B.process']);
  assert.equal(processes.find((s) => s.name === 'A.process')!.parentSpanId, ra!.spanId);
  assert.equal(processes.find((s) => s.name === 'B.process')!.parentSpanId, rb!.spanId);
  for (const p of processes) assert.equal(p.status?.code, 1);
  await t.shutdown();
});

test('a process span whose afterProcess never comes is ended as ERROR by the timeout', async () => {
  const t = setup({ spanTimeoutMillis: 500 });
  await t.buffered.beforeProcess(KEY, new LogRequestFailDTO(1), {}, 0);
  t.clock.advance(1_000_000_000n);
  t.tracer.tracer.sweep();
  const [s] = await t.spans();
  assert.equal(s!.status?.code, 2);
  assert.match(s!.status!.message!, /no afterProcess within 500 ms/);
  await t.shutdown();
});

test('afterProcess with a different DTO object still finds its span by span_key', async () => {
  const t = setup();
  await t.buffered.beforeProcess(KEY, new LogRequestFailDTO(1), {}, 0);
  await t.buffered.afterProcess(KEY, new LogRequestFailDTO(1), {}, false);
  const [s] = await t.spans();
  assert.equal(s!.attributes['process.success'], false);
  assert.equal(t.buffered.open.size, 0);
  await t.shutdown();
});

test('garbage into the buffered hooks: no throw', async () => {
  const t = setup();
  const b = t.buffered;
  const junk: unknown[] = [undefined, null, 0, NaN, 'x', [], {}, Symbol('s'), () => 1, { trace_id: {} }];
  for (const a of junk) {
    for (const c of junk) {
      await assert.doesNotReject(async () => {
        await b.beforePush(a as SpanKey, c);
        await b.beforeProcess(a as SpanKey, c, c as never, a as number);
        await b.afterProcess(a as SpanKey, c, c as never, a as boolean);
      });
    }
  }
  assert.throws(() => new (b.constructor as any)({}), /needs the OtlpTracingMiddleware instance/);
  await t.shutdown();
});

test('request.retries: numeric strings are taken, garbage is left out', async () => {
  const t = setup();
  for (const r of ['3', 2.9, 'abc', undefined]) {
    const m = {};
    await t.buffered.beforeProcess(KEY, m, {}, r as number);
    await t.buffered.afterProcess(KEY, m, {}, true);
  }
  assert.deepEqual(
    (await t.spans()).map((s) => s.attributes['request.retries']),
    [{ int: '3' }, { int: '2' }, undefined, undefined],
  );
  await t.shutdown();
});

test('metadata merge across buffered middlewares: later keys win', async () => {
  const t = setup();
  class Extra extends BufferedMiddlewareBase {
    override async beforePush(): Promise<Record<string, unknown>> {
      return { otlp_route_key: 'overridden', extra: 1 };
    }
  }
  t.bufferedMiddlewareManager.add(new Extra());
  await t.tracer.beforeRouting({ protocolDto: dto('svc.q') });
  assert.deepEqual(await t.bufferedMiddlewareManager.collectPushMetadata(KEY, {}), {
    otlp_receive_span_id: '0000000000000001',
    otlp_route_key: 'overridden',
    extra: 1,
  });
  await t.shutdown();
});

test('sampling: receive and process spans of an entry always agree', async () => {
  // trace ids whose low 52 bits are small are kept at ratio 0.5, large ones dropped
  const kept = { trace_id: '3f2a1b4c-5d6e-4f80-9000-000000000001', span_id: KEY.span_id };
  const dropped = { trace_id: '3f2a1b4c-5d6e-4f80-9fff-ffffffffffff', span_id: KEY.span_id };
  const t = setup({ sampler: 0.5 });
  let n = 0;
  t.host.bufferedEndpoint('q', () => ++n % 2 === 0, { model: LogRequestFailDTO });
  await t.host.request(dto('q', kept));
  await t.host.request(dto('q', dropped));
  await t.host.drain();
  const spans = await t.spans();
  assert.ok(spans.length >= 2);
  for (const s of spans) assert.equal(s.traceId, '3f2a1b4c5d6e4f809000000000000001');
  assert.deepEqual(spans.map((s) => s.kind), [2, 5, 5, 5]); // 3 attempts of the kept entry; none of the other
  await t.shutdown();
});

test('always_off / OTEL_SDK_DISABLED: hooks pass through, nothing recorded', async () => {
  for (const opts of [{ sampler: 0 }, { enabled: false }]) {
    const t = setup(opts);
    t.host.endpoint('r', () => 'ok');
    t.host.bufferedEndpoint('q', () => true);
    assert.equal(await t.host.request(dto('r')), 'ok');
    await t.host.request(dto('q'));
    assert.deepEqual(t.host.pending('q')[0]!.metadata, {});
    await t.host.drain();
    assert.deepEqual(await t.spans(), []);
    assert.equal(t.tracer.stats().ended, 0);
    await t.shutdown();
  }
});

test('a host whose buffered handler throws: the attempt is a failure, traced as such', async () => {
  const t = setup();
  const host = new EcoHost({
    middlewareManager: t.middlewareManager,
    bufferedMiddlewareManager: t.bufferedMiddlewareManager,
    autoProcess: false,
  });
  host.bufferedEndpoint('q', () => {
    throw new Error('worker crashed');
  }, { maxRetries: 1 });
  await host.request(dto('q'));
  await host.drain();
  const spans = await t.spans();
  assert.deepEqual(spans.map((s) => [s.kind, s.status?.code]), [[2, 1], [5, 2]]);
  assert.equal(host.errorQueue('q').length, 1);
  await t.shutdown();
});
