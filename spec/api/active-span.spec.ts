// The span API for handler code (issue 15), through the in-process host: currentSpan() from any
// async depth of a handler, withSpan() children, outgoingSpanKey() without arguments, no-op
// spans when there is nothing to record, and no request ever seeing another's span.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentSpan, withSpan, NOOP_SPAN, StatusCode } from '../../lib/handler.ts';
import { MiddlewareBase, MiddlewareManager } from '../../lib/index.ts';
import type { SpanKey } from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import { setup as setupTracing, dto, KEY, HEX } from '../helpers/tracing.ts';

/** A tracer whose handlers reach their spans from the first request (see the lazy default in context.spec.ts). */
const setup = (opts: Parameters<typeof setupTracing>[0] = {}) => setupTracing({ handlerSpans: true, ...opts });
import { LogRequestFailDTO } from '../fixtures/scenarios.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a handler annotates its request span and nests withSpan children across awaits', async () => {
  const t = setup();
  const seen: string[] = [];
  t.host.endpoint('tracker.log_request', async () => {
    await tick();
    currentSpan().setAttribute('user.id', 42).setAttributes({ 'user.plan': 'pro', 'user.tags': ['a', 'b'] });
    currentSpan().addEvent('validated', { 'fields.count': 3 });
    await withSpan('db.query', async (span) => {
      seen.push(`db:${span === currentSpan()}`);
      await sleep(2);
      await withSpan('db.connect', async () => {
        await tick();
        currentSpan().setAttribute('db.pool', 'main');
      });
      seen.push(`after inner:${span === currentSpan()}`);
    });
    currentSpan().setAttribute('user.id', 43); // replaces, not appended
    return { ok: true };
  });
  await t.host.request(dto('tracker.log_request', KEY, {}));
  assert.equal(currentSpan(), NOOP_SPAN, 'outside the request: the no-op span');
  assert.deepEqual(seen, ['db:true', 'after inner:true']);
  const [connect, query, request] = await t.spans();
  assert.deepEqual(
    [request!.name, query!.name, connect!.name],
    ['tracker.log_request', 'db.query', 'db.connect'],
    'exported in end order: innermost first',
  );
  const ids = [request!.spanId, query!.spanId, connect!.spanId];
  assert.deepEqual(ids, ['0000000000000001', '0000000000000002', '0000000000000003']);
  assert.deepEqual([query!.parentSpanId, connect!.parentSpanId], [request!.spanId, query!.spanId]);
  assert.deepEqual([request!.traceId, query!.traceId, connect!.traceId], [HEX, HEX, HEX]);
  assert.deepEqual([query!.kind, connect!.kind], [1, 1], 'INTERNAL');
  assert.deepEqual([query!.flags, connect!.flags], [0x101, 0x101], 'local parent');
  assert.deepEqual(request!.attributes, {
    'request.trace_id': KEY.trace_id,
    'request.span_id': KEY.span_id,
    'request.route_key': 'tracker.log_request',
    'user.id': { int: '43' },
    'user.plan': 'pro',
    'user.tags': ['a', 'b'],
  });
  assert.deepEqual(request!.events, [{ name: 'validated', attributes: { 'fields.count': { int: '3' } } }]);
  assert.deepEqual(request!.status, { code: 1 });
  assert.deepEqual(connect!.attributes, { 'db.pool': 'main' });
  assert.equal(query!.status, undefined, 'a child that succeeded keeps status UNSET');
  assert.ok(request!.start < query!.start && query!.start < connect!.start);
  assert.ok(connect!.end <= query!.end && query!.end <= request!.end);
  await t.shutdown();
});

test('concurrent requests never see each other’s spans', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', async (d) => {
    const n = (d.data as { n: number }).n;
    await sleep((n * 7) % 5);
    currentSpan().setAttribute('n', n);
    await withSpan(`work.${n}`, async () => {
      await sleep((n * 3) % 4);
      currentSpan().setAttribute('n', n);
    });
    await tick();
    currentSpan().addEvent(`done.${n}`);
    return n;
  });
  const N = 30;
  const keys: SpanKey[] = [];
  for (let n = 0; n < N; n++) {
    keys.push({ trace_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, span_id: '9c7e5a3b1d0f2e4c' });
  }
  const answers = await Promise.all(keys.map((k, n) => t.host.request(dto('tracker.log_request', k, { n }))));
  assert.deepEqual(answers, keys.map((_, n) => n));
  const spans = await t.spans();
  assert.equal(spans.length, 2 * N);
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (const s of spans) {
    const n = (s.attributes.n as { int: string }).int;
    const own = `000000000000400080000000${String(n).padStart(8, '0')}`;
    assert.equal(s.traceId, own, `${s.name} carries its own request's number`);
    if (s.name === 'tracker.log_request') assert.deepEqual(s.events.map((e) => e.name), [`done.${n}`]);
    else {
      assert.equal(s.name, `work.${n}`);
      assert.equal(byId.get(s.parentSpanId!)!.name, 'tracker.log_request');
      assert.deepEqual(byId.get(s.parentSpanId!)!.attributes.n, { int: n });
    }
  }
  await t.shutdown();
});

test('a throw inside withSpan reaches the handler unchanged; the child is ERROR with an exception event', async () => {
  const t = setup();
  const thrown = new TypeError('card declined');
  let caught: unknown;
  t.host.endpoint('tracker.log_request', async () => {
    try {
      await withSpan('billing.charge', async () => {
        await tick();
        throw thrown;
      }, { kind: 'client' });
    } catch (e) {
      caught = e;
    }
    // a synchronous fn: same
    assert.throws(() => withSpan('sync.step', () => {
      throw thrown;
    }), (e) => e === thrown);
    return 'handled';
  });
  assert.equal(await t.host.request(dto('tracker.log_request')), 'handled');
  assert.equal(caught, thrown, 'the same object');
  const [charge, step, request] = await t.spans();
  assert.equal(charge!.kind, 3, 'CLIENT');
  for (const s of [charge!, step!]) {
    assert.deepEqual(s.status, { code: 2, message: 'TypeError: card declined' });
    assert.equal(s.events[0]!.name, 'exception');
    assert.equal(s.events[0]!.attributes['exception.type'], 'TypeError');
    assert.equal(s.events[0]!.attributes['exception.message'], 'card declined');
    assert.equal(s.parentSpanId, request!.spanId);
  }
  assert.deepEqual(request!.status, { code: 1 }, 'the handler caught it: the request is OK');
  await t.shutdown();
});

test('a withSpan rejection the handler does not catch: the caller gets the same error, both spans ERROR', async () => {
  const t = setup();
  const thrown = new Error('boom');
  t.host.endpoint('tracker.log_request', () => withSpan('step', async () => {
    await tick();
    throw thrown;
  }));
  await assert.rejects(t.host.request(dto('tracker.log_request')), (e) => e === thrown);
  const [step, request] = await t.spans();
  const boom = { code: 2, message: 'Error: boom' };
  assert.deepEqual([step!.status, request!.status], [boom, boom]);
  assert.equal(step!.parentSpanId, request!.spanId);
  await t.shutdown();
});

test('withSpan returns fn’s value (sync and async) and ends the span when it settles', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', async () => {
    const a = withSpan('sync', () => 1);
    const b = await withSpan('async', async () => {
      await sleep(1);
      return 2;
    });
    return a + b;
  });
  assert.equal(await t.host.request(dto('tracker.log_request')), 3);
  assert.deepEqual((await t.spans()).map((s) => s.name), ['sync', 'async', 'tracker.log_request']);
  await t.shutdown();
});

test('setStatus ERROR stays when the request ends normally; recordException adds the event only', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', () => {
    currentSpan().recordException(new RangeError('partial'));
    currentSpan().setStatus({ code: StatusCode.ERROR, message: 'partial failure' });
    return 'ok';
  });
  await t.host.request(dto('tracker.log_request'));
  const [request] = await t.spans();
  assert.deepEqual(request!.status, { code: 2, message: 'partial failure' });
  const events = request!.events.map((e) => [e.name, e.attributes['exception.type']]);
  assert.deepEqual(events, [['exception', 'RangeError']]);
  await t.shutdown();
});

test('outgoingSpanKey() without arguments: the request span in the handler, the child inside withSpan', async () => {
  const front = setup();
  const back = setup({ appName: 'billing', idGenerator: { spanId: () => 'b2b2b2b2b2b2b2b2' } });
  back.host.endpoint('billing.charge', () => 'charged');
  const keys: (SpanKey | undefined)[] = [];
  front.host.endpoint('tracker.log_request', async () => {
    keys.push(front.tracer.outgoingSpanKey());
    return withSpan('billing.call', async () => {
      const key = front.tracer.outgoingSpanKey();
      keys.push(key);
      return back.host.request(dto('billing.charge', key));
    }, { kind: 'client' });
  });
  assert.equal(front.tracer.outgoingSpanKey(), undefined, 'outside a request');
  assert.equal(await front.host.request(dto('tracker.log_request')), 'charged');
  assert.deepEqual(keys, [
    { trace_id: KEY.trace_id, span_id: '0000000000000001' },
    { trace_id: KEY.trace_id, span_id: '0000000000000002' },
  ]);
  const [call, request] = await front.spans();
  const [charge] = await back.spans();
  assert.equal(call!.parentSpanId, request!.spanId);
  assert.equal(charge!.parentSpanId, call!.spanId, 'the downstream span is a child of the withSpan child');
  assert.equal(charge!.traceId, HEX);
  await front.shutdown();
  await back.shutdown();
});

test('no-op when tracing is off: nothing recorded, handler code runs unchanged', async () => {
  const t = setup({ enabled: false });
  t.host.endpoint('tracker.log_request', async () => {
    assert.equal(currentSpan(), NOOP_SPAN);
    assert.equal(currentSpan().setAttribute('a', 1).addEvent('e').isRecording, false);
    assert.equal(t.tracer.outgoingSpanKey(), undefined);
    return withSpan('step', async (span) => {
      assert.equal(span, NOOP_SPAN);
      return 'ran';
    });
  });
  assert.equal(await t.host.request(dto('tracker.log_request')), 'ran');
  assert.deepEqual(await t.spans(), []);
  await t.shutdown();
});

test('no-op when the trace is not sampled, even right after a sampled request in the same context', async () => {
  const t = setup({ sampler: 0.5 });
  const sampled = { trace_id: '3f2a1b4c-5d6e-4f80-9000-000000000001', span_id: KEY.span_id };
  const unsampled = { trace_id: '3f2a1b4c-5d6e-4f80-9fff-ffffffffffff', span_id: KEY.span_id };
  const recording: string[] = [];
  t.host.endpoint('tracker.log_request', async (d) => {
    const which = d.span_key === sampled ? 'sampled' : 'unsampled';
    await tick();
    recording.push(`${which} request ${currentSpan().isRecording}`);
    await withSpan('step', async (span) => {
      recording.push(`${which} step ${span.isRecording}`);
      currentSpan().setAttribute('leak', true);
    });
    return 'ok';
  });
  // Concurrently, so the sampled request is still open while the unsampled one is handled.
  await Promise.all([sampled, unsampled].map((k) => t.host.request(dto('tracker.log_request', k))));
  assert.deepEqual(recording.sort(), [
    'sampled request true',
    'sampled step true',
    'unsampled request false',
    'unsampled step false',
  ]);
  const spans = await t.spans();
  assert.deepEqual(spans.map((s) => [s.name, s.traceId]), [
    ['step', '3f2a1b4c5d6e4f809000000000000001'],
    ['tracker.log_request', '3f2a1b4c5d6e4f809000000000000001'],
  ]);
  await t.shutdown();
});

test('outside any request: the no-op span; withSpan just runs fn', async () => {
  const t = setup();
  assert.equal(currentSpan(), NOOP_SPAN);
  assert.equal(await withSpan('background', async (span) => (span === NOOP_SPAN ? 'noop' : 'span')), 'noop');
  assert.equal(withSpan('sync', () => 7), 7);
  assert.deepEqual(await t.spans(), []);
  await t.shutdown();
});

test('after the request ended, a late task of its handler gets the no-op span', async () => {
  const t = setup();
  let late: Promise<boolean> | undefined;
  t.host.endpoint('tracker.log_request', () => {
    late = sleep(5).then(() => {
      currentSpan().setAttribute('late', true);
      return currentSpan().isRecording;
    });
    return 'ok';
  });
  await t.host.request(dto('tracker.log_request'));
  assert.equal(await late, false);
  const [request] = await t.spans();
  assert.equal(request!.attributes.late, undefined);
  await t.shutdown();
});

test('buffered: currentSpan() in the process function is the attempt’s process span', async () => {
  const t = setup();
  const keys: (SpanKey | undefined)[] = [];
  let attempt = 0;
  t.host.bufferedEndpoint('tracker.log_request_fail', async () => {
    attempt++;
    await tick();
    currentSpan().setAttribute('attempt', attempt);
    keys.push(t.tracer.outgoingSpanKey());
    await withSpan('store.write', async () => {
      await tick();
      if (attempt === 1) throw new Error('disk full');
    });
    return true;
  }, { model: LogRequestFailDTO, maxRetries: 3 });
  await t.host.request(dto('tracker.log_request_fail', KEY, { message: 'retry me' }));
  await t.host.drain();
  const spans = await t.spans();
  assert.deepEqual(spans.map((s) => s.name), [
    'tracker.log_request_fail',
    'store.write',
    'LogRequestFailDTO.process',
    'store.write',
    'LogRequestFailDTO.process',
  ]);
  const [, write1, process1, write2, process2] = spans;
  assert.deepEqual([process1!.attributes.attempt, process2!.attributes.attempt], [{ int: '1' }, { int: '2' }]);
  assert.deepEqual([write1!.parentSpanId, write2!.parentSpanId], [process1!.spanId, process2!.spanId]);
  assert.deepEqual(write1!.status, { code: 2, message: 'Error: disk full' });
  assert.deepEqual([process1!.status?.code, process2!.status?.code], [2, 1]);
  const processKeys = [process1, process2].map((p) => ({ trace_id: KEY.trace_id, span_id: p!.spanId }));
  assert.deepEqual(keys, processKeys, 'outgoingSpanKey(): the process span');
  await t.shutdown();
});

test('a middleware before the tracer: handlers get the no-op span, not another’s; one warning says why', async () => {
  const t = setup();
  // another manager: a pass-through middleware first, then the tracer
  const manager = new MiddlewareManager();
  manager.add(new (class extends MiddlewareBase {})());
  manager.add(t.tracer);
  const host = new EcoHost({ middlewareManager: manager, bufferedMiddlewareManager: t.bufferedMiddlewareManager });
  const seen: boolean[] = [];
  host.endpoint('tracker.log_request', async () => {
    await tick();
    seen.push(currentSpan().isRecording);
    return 'ok';
  });
  const keys = [1, 2, 3].map((n) => ({ trace_id: `00000000-0000-4000-8000-00000000000${n}`, span_id: KEY.span_id }));
  await Promise.all(keys.map((k) => host.request(dto('tracker.log_request', k))));
  assert.deepEqual(seen, [false, false, false]);
  assert.equal(t.warnings.filter((w) => /register the tracing middleware before any other/.test(w)).length, 1);
  assert.equal((await t.spans()).length, 3, 'the requests are still traced');
  await t.shutdown();
});

test('values plain JavaScript may pass are ignored, never thrown', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', () => {
    const span = currentSpan() as unknown as Record<string, (...args: unknown[]) => unknown>;
    span.setAttribute!('object', { a: 1 });
    span.setAttribute!('null', null);
    span.setAttribute!(42, 'not a key');
    span.setAttributes!(null);
    span.setAttributes!({ good: 'yes', bad: { nested: true } });
    span.addEvent!('odd', 'not an object');
    span.setStatus!(null);
    span.setStatus!({ code: 7 });
    span.recordException!(undefined);
    return 'ok';
  });
  assert.equal(await t.host.request(dto('tracker.log_request')), 'ok');
  const [request] = await t.spans();
  assert.deepEqual(request!.attributes, {
    'request.trace_id': KEY.trace_id,
    'request.span_id': KEY.span_id,
    'request.route_key': 'tracker.log_request',
    good: 'yes',
  });
  assert.deepEqual(request!.events.map((e) => e.name), ['odd', 'exception']);
  assert.deepEqual(request!.status, { code: 1 });
  await t.shutdown();
});
