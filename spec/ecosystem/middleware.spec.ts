// The regular-endpoint tracer through the in-process host: the exact spans it exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, dto, KEY, HEX, type FlatSpan } from '../helpers/tracing.ts';
import { MiddlewareBase, MiddlewareManager, BufferedMiddlewareManager, type RequestDTO } from '../../lib/index.ts';

const REQUEST_ATTRS = {
  'request.trace_id': KEY.trace_id,
  'request.span_id': KEY.span_id,
  'request.route_key': 'tracker.log_request',
};

function only(spans: FlatSpan[]): FlatSpan {
  assert.equal(spans.length, 1, `expected one span, got ${spans.map((s) => s.name).join(', ')}`);
  return spans[0]!;
}

test('regular endpoint: one SERVER span, child of the caller, OK, three request attributes', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', () => ({ logged: true }));
  const res = await t.host.request(dto('tracker.log_request'));
  assert.deepEqual(res, { logged: true });
  const s = only(await t.spans());
  assert.deepEqual(
    { ...s, start: undefined, end: undefined },
    {
      name: 'tracker.log_request',
      kind: 2,
      traceId: HEX,
      spanId: '0000000000000001',
      parentSpanId: KEY.span_id,
      flags: 0x301,
      status: { code: 1 },
      attributes: REQUEST_ATTRS,
      events: [],
      start: undefined,
      end: undefined,
      service: 'tracker-0',
    },
  );
  assert.ok(s.end > s.start);
  const resource = (t.mem.parsed()[0] as any).resourceSpans[0].resource.attributes;
  assert.deepEqual(
    resource.map((a: any) => [a.key, a.value.stringValue]),
    [
      ['service.name', 'tracker-0'],
      ['telemetry.sdk.name', 'ekosis-otlp-traces'],
      ['telemetry.sdk.language', 'nodejs'],
      ['telemetry.sdk.version', '0.1.0'],
    ],
  );
  await t.shutdown();
});

test('span_key in upper case or without hyphens: same trace, canonical attributes', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r', { trace_id: KEY.trace_id.toUpperCase(), span_id: KEY.span_id.toUpperCase() }));
  await t.host.request(dto('r', { trace_id: HEX, span_id: KEY.span_id }));
  const spans = await t.spans();
  for (const s of spans) {
    assert.equal(s.traceId, HEX);
    assert.equal(s.parentSpanId, KEY.span_id);
    assert.equal(s.attributes['request.trace_id'], KEY.trace_id);
    assert.equal(s.attributes['request.span_id'], KEY.span_id);
  }
  await t.shutdown();
});

test('concurrent requests with the same span_key each get their own span', async () => {
  const t = setup();
  const release: (() => void)[] = [];
  t.host.endpoint('tracker.log_request', (d) => new Promise((r) => release.push(() => r((d.data as { n: number }).n))));
  const a = t.host.request(dto('tracker.log_request', KEY, { n: 1 }));
  const b = t.host.request(dto('tracker.log_request', KEY, { n: 2 }));
  const c = t.host.request(dto('tracker.log_request', KEY, { n: 3 }));
  while (release.length < 3) await new Promise((r) => setImmediate(r));
  // finish out of order
  release[1]!();
  release[2]!();
  release[0]!();
  assert.deepEqual(await Promise.all([a, b, c]), [1, 2, 3]);
  const spans = await t.spans();
  assert.equal(spans.length, 3);
  assert.deepEqual(new Set(spans.map((s) => s.spanId)).size, 3);
  for (const s of spans) {
    assert.equal(s.status?.code, 1);
    assert.equal(s.parentSpanId, KEY.span_id);
  }
  // each span ends when its own request ends: request 2 first
  assert.deepEqual(spans.map((s) => s.spanId), ['0000000000000002', '0000000000000003', '0000000000000001']);
  assert.equal(t.tracer.open.size, 0);
  await t.shutdown();
});

test('a middleware that replaces the DTO: the span is still found by span_key', async () => {
  const t = setup();
  class Replacer extends MiddlewareBase {
    override async beforeRouting({ protocolDto }: { protocolDto: RequestDTO }): Promise<RequestDTO> {
      return { ...protocolDto, data: { replaced: true } };
    }
  }
  t.middlewareManager.add(new Replacer());
  t.host.endpoint('tracker.log_request', (d) => d.data);
  assert.deepEqual(await t.host.request(dto('tracker.log_request')), { replaced: true });
  const s = only(await t.spans());
  assert.equal(s.status?.code, 1);
  assert.equal(t.tracer.open.size, 0);
  await t.shutdown();
});

test('handler failure: routingFailed ends the span as ERROR with an exception event', async () => {
  const t = setup();
  t.host.endpoint('tracker.log_request', () => {
    throw new TypeError('cannot log: disk full');
  });
  await assert.rejects(t.host.request(dto('tracker.log_request')), /disk full/);
  const s = only(await t.spans());
  assert.deepEqual(s.status, { code: 2, message: 'TypeError: cannot log: disk full' });
  assert.equal(s.events.length, 1);
  assert.equal(s.events[0]!.name, 'exception');
  assert.equal(s.events[0]!.attributes['exception.type'], 'TypeError');
  assert.equal(s.events[0]!.attributes['exception.message'], 'cannot log: disk full');
  assert.match(String(s.events[0]!.attributes['exception.stacktrace']), /^TypeError: cannot log: disk full\n\s+at /);
  assert.equal(t.tracer.open.size, 0);
  await t.shutdown();
});

test('a thrown non-Error value is still reported', async () => {
  const t = setup();
  t.host.endpoint('r', () => {
    throw 'plain string';
  });
  await assert.rejects(t.host.request(dto('r')));
  const s = only(await t.spans());
  assert.deepEqual(s.status, { code: 2, message: 'handler failed: plain string' });
  assert.deepEqual(s.events[0]!.attributes, { 'exception.type': 'string', 'exception.message': 'plain string' });
  await t.shutdown();
});

test('a host that never calls routingFailed: the span ends as ERROR after spanTimeoutMillis', async () => {
  const t = setup({ spanTimeoutMillis: 1000 });
  await t.tracer.beforeRouting({ protocolDto: dto('tracker.log_request') });
  t.tracer.tracer.sweep();
  assert.equal(t.tracer.open.size, 1, 'not yet expired');
  t.clock.advance(2_000_000_000n); // the tracer's clock decides: 2 s later
  t.tracer.tracer.sweep();
  assert.equal(t.tracer.open.size, 0);
  const s = only(await t.spans());
  assert.equal(s.status?.code, 2);
  assert.match(s.status!.message!, /no afterRouting or routingFailed within 1000 ms/);
  await t.shutdown();
});

test('the sweep runs by itself on a timer', async () => {
  const t = setup({ spanTimeoutMillis: 200, clock: undefined });
  await t.tracer.beforeRouting({ protocolDto: dto('tracker.log_request') });
  for (let i = 0; i < 100 && t.tracer.open.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(t.tracer.open.size, 0);
  assert.equal(only(await t.spans()).status?.code, 2);
  await t.shutdown();
});

test('the open-span table is capped: the oldest span is ended as ERROR', async () => {
  const t = setup({ maxOpenSpans: 3 });
  const dtos = [1, 2, 3, 4, 5].map((n) => dto('r', KEY, { n }));
  for (const d of dtos) await t.tracer.beforeRouting({ protocolDto: d });
  assert.equal(t.tracer.open.size, 3);
  for (const d of dtos.slice(2)) await t.tracer.afterRouting({ protocolDto: d, responseDto: null });
  const spans = await t.spans();
  assert.deepEqual(
    spans.map((s) => [s.spanId, s.status?.code]),
    [
      ['0000000000000001', 2],
      ['0000000000000002', 2],
      ['0000000000000003', 1],
      ['0000000000000004', 1],
      ['0000000000000005', 1],
    ],
  );
  assert.match(spans[0]!.status!.message!, /more than 3 requests open at once/);
  await t.shutdown();
});

test('outgoingSpanKey: a forwarded request nests under this service, giving a tree', async () => {
  const front = setup({ appName: 'tracker' });
  let backId = 0xb00;
  const backSpanId = () => (++backId).toString(16).padStart(16, '0');
  const back = setup({ appName: 'billing', idGenerator: { spanId: backSpanId } });
  back.host.endpoint('billing.charge', () => 'charged');
  front.host.endpoint('tracker.log_request', async (d) => {
    const forwarded = front.tracer.outgoingSpanKey(d.span_key);
    return back.host.request(dto('billing.charge', forwarded));
  });
  assert.equal(await front.host.request(dto('tracker.log_request')), 'charged');
  const [f] = await front.spans();
  const [b] = await back.spans();
  assert.equal(f!.traceId, HEX);
  assert.equal(b!.traceId, HEX);
  assert.equal(f!.parentSpanId, KEY.span_id);
  assert.equal(b!.parentSpanId, f!.spanId, 'downstream span is the child of the upstream span');
  assert.equal(b!.service, 'billing-0');
  assert.equal(b!.attributes['request.span_id'], f!.spanId);
  // without an active span the key is returned as it was
  assert.deepEqual(front.tracer.outgoingSpanKey(KEY), KEY);
  await front.shutdown();
  await back.shutdown();
});

test('getActiveSpan finds the open span of a span_key, and nothing after it ended', async () => {
  const t = setup();
  const d = dto('tracker.log_request');
  await t.tracer.beforeRouting({ protocolDto: d });
  const span = t.tracer.getActiveSpan(KEY);
  assert.equal(span?.name, 'tracker.log_request');
  assert.equal(span?.spanId, '0000000000000001');
  const upperKey = { trace_id: KEY.trace_id.toUpperCase(), span_id: KEY.span_id };
  assert.equal(t.tracer.getActiveSpan(upperKey)?.spanId, '0000000000000001');
  await t.tracer.afterRouting({ protocolDto: d, responseDto: 1 });
  assert.equal(t.tracer.getActiveSpan(KEY), undefined);
  assert.equal(t.tracer.getActiveSpan(null as never), undefined);
  await t.shutdown();
});

test('invalid span_keys: traced with a fresh trace, flagged, the DTO returned untouched', async () => {
  const t = setup();
  const cases: unknown[] = [
    undefined,
    null,
    'not an object',
    {},
    { trace_id: 'nope', span_id: KEY.span_id },
    { trace_id: '00000000-0000-0000-0000-000000000000', span_id: KEY.span_id },
    { trace_id: 12345, span_id: 5 },
  ];
  for (const key of cases) {
    const d = { route_key: 'tracker.log_request', span_key: key, data: { x: 1 } } as unknown as RequestDTO;
    const back = await t.tracer.beforeRouting({ protocolDto: d });
    assert.equal(back, d);
    assert.deepEqual(d, { route_key: 'tracker.log_request', span_key: key, data: { x: 1 } });
    assert.equal(await t.tracer.afterRouting({ protocolDto: d, responseDto: 'ok' }), 'ok');
  }
  const spans = await t.spans();
  assert.equal(spans.length, cases.length);
  spans.forEach((s, i) => {
    assert.equal(s.traceId, 'f' + (i + 1).toString(16).padStart(31, '0'));
    assert.equal(s.parentSpanId, undefined);
    assert.equal(s.flags, 0x101);
    assert.equal(s.attributes['request.span_key_invalid'], true);
    assert.equal(s.attributes['request.span_id'], undefined);
    assert.equal(s.attributes['request.trace_id'], `f0000000-0000-0000-0000-${(i + 1).toString(16).padStart(12, '0')}`);
    assert.equal(s.status?.code, 1);
  });
  await t.shutdown();
});

test('a bad span_id alone keeps the trace, drops the parent, flags the span', async () => {
  const t = setup();
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r', { trace_id: KEY.trace_id, span_id: 'xyz' }));
  const s = only(await t.spans());
  assert.equal(s.traceId, HEX);
  assert.equal(s.parentSpanId, undefined);
  assert.equal(s.attributes['request.span_key_invalid'], true);
  assert.equal(s.attributes['request.trace_id'], KEY.trace_id);
  await t.shutdown();
});

test('garbage into every hook: no throw, input returned', async () => {
  const t = setup({ attributeValueLengthLimit: 200_000 }); // (the default, 8192, would cut the long name below)
  const m = t.tracer;
  const badDto = { protocolDto: { route_key: {}, span_key: [] } };
  const garbage = [undefined, null, 0, 'x', [], {}, { protocolDto: 5 }, badDto];
  for (const g of garbage) {
    await assert.doesNotReject(async () => {
      await m.beforeRouting(g as never);
      await m.afterRouting(g as never);
      await m.routingFailed(g as never);
      m.getActiveSpan(g as never);
      m.outgoingSpanKey(g as never);
    });
  }
  const weird = { route_key: 'r'.repeat(100_000) + '\uD800', span_key: KEY, data: null };
  assert.equal(await m.beforeRouting({ protocolDto: weird }), weird);
  await m.afterRouting({ protocolDto: weird, responseDto: null });
  const spans = await t.spans();
  const last = spans[spans.length - 1]!;
  assert.equal(last.name, 'r'.repeat(100_000) + '\uFFFD');
  await t.shutdown();
});

test('a hook whose own failure is a value String() cannot print: no throw, reported', async () => {
  const t = setup({
    idGenerator: {
      spanId: () => {
        throw Object.create(null);
      },
    },
  });
  const request = dto('r');
  assert.equal(await t.tracer.beforeRouting({ protocolDto: request }), request);
  assert.deepEqual(t.warnings, ['[ekosis-otlp-traces] beforeRouting: unknown error']);
  await t.shutdown();
});

test('after shutdown every hook is a pass-through', async () => {
  const t = setup();
  await t.shutdown();
  await t.shutdown(); // idempotent
  const d = dto('tracker.log_request');
  assert.equal(await t.tracer.beforeRouting({ protocolDto: d }), d);
  assert.equal(await t.tracer.afterRouting({ protocolDto: d, responseDto: 7 }), 7);
  assert.deepEqual(await t.buffered.beforePush(KEY, {}), {});
  assert.equal(t.tracer.open.size, 0);
  assert.equal(t.tracer.stats().ended, 0);
});

test('managers: registration order, chained replacement, isolated vs singleton', async () => {
  const seen: string[] = [];
  class Tag extends MiddlewareBase {
    constructor(private readonly tag: string) {
      super();
    }
    override async beforeRouting({ protocolDto }: { protocolDto: RequestDTO }): Promise<RequestDTO> {
      seen.push(`before ${this.tag} ${(protocolDto.data as string[]).join('')}`);
      return { ...protocolDto, data: [...(protocolDto.data as string[]), this.tag] };
    }
    override async afterRouting(args: { protocolDto: RequestDTO; responseDto: unknown }): Promise<unknown> {
      const { protocolDto, responseDto } = args;
      seen.push(`after ${this.tag} ${(protocolDto.data as string[]).join('')}`);
      return `${String(responseDto)}${this.tag}`;
    }
  }
  const mm = new MiddlewareManager();
  mm.add(new Tag('a'));
  mm.add(new Tag('b'));
  assert.equal(mm.list().length, 2);
  const out = await mm.runBeforeRouting({ protocolDto: dto('r', KEY, []) as RequestDTO });
  assert.deepEqual(out.data, ['a', 'b']);
  assert.equal(await mm.runAfterRouting({ protocolDto: out, responseDto: 'x' }), 'xab');
  assert.deepEqual(seen, ['before a ', 'before b a', 'after a ab', 'after b ab']);
  assert.equal(MiddlewareManager.instance(), MiddlewareManager.instance());
  assert.notEqual(new MiddlewareManager(), MiddlewareManager.instance());
  assert.equal(BufferedMiddlewareManager.instance(), BufferedMiddlewareManager.instance());
});

test('routingFailed reaches every middleware even when one throws', async () => {
  const calls: string[] = [];
  class Bad extends MiddlewareBase {
    override async routingFailed(): Promise<void> {
      calls.push('bad');
      throw new Error('bad hook');
    }
  }
  class Good extends MiddlewareBase {
    override async routingFailed(): Promise<void> {
      calls.push('good');
    }
  }
  const mm = new MiddlewareManager();
  mm.add(new Bad());
  mm.add(new Good());
  await assert.rejects(mm.runRoutingFailed({ protocolDto: dto('r') as RequestDTO, error: new Error('x') }), /bad hook/);
  assert.deepEqual(calls, ['bad', 'good']);
});

test('invalid span_key with the default random id generator', async () => {
  const t = setup({ idGenerator: undefined });
  t.host.endpoint('r', () => 1);
  await t.host.request(dto('r', { trace_id: 'not-a-uuid', span_id: 'nope' }));
  const s = only(await t.spans());
  assert.match(s.traceId, /^[0-9a-f]{32}$/);
  assert.match(s.spanId, /^[0-9a-f]{16}$/);
  assert.equal(s.attributes['request.span_key_invalid'], true);
  await t.shutdown();
});

test('span_keys checked at export (no sampler, no id generator) give the same spans as checked at start', async () => {
  const keys: unknown[] = [
    KEY,
    { trace_id: KEY.trace_id.toUpperCase(), span_id: KEY.span_id.toUpperCase() },
    { trace_id: HEX, span_id: '11276549726919405132' },
    { trace_id: KEY.trace_id, span_id: 'nope' },
    { trace_id: 'nope', span_id: KEY.span_id },
    { trace_id: undefined, span_id: undefined },
    {},
    null,
    'x',
  ];
  const run = async (idGenerator: undefined | object) => {
    const t = setup({ idGenerator: idGenerator as never });
    t.host.endpoint('r', () => 1);
    for (const k of keys) await t.host.request(dto('r', k));
    const spans = await t.spans();
    await t.shutdown();
    // random ids differ by nature: keep only whether the trace is the span_key's
    return spans.map((s) => ({
      ...s,
      spanId: undefined,
      start: undefined,
      end: undefined,
      traceId: s.traceId === HEX ? HEX : 'fresh',
      attributes: {
        ...s.attributes,
        'request.trace_id': s.traceId === HEX ? s.attributes['request.trace_id'] : 'fresh',
      } as Record<string, unknown>,
    }));
  };
  const eager = await run({ traceId: () => 'f'.repeat(32), spanId: () => '1'.repeat(16) });
  const lazy = await run(undefined);
  assert.deepEqual(lazy, eager);
  assert.equal(lazy.filter((s) => s.attributes['request.span_key_invalid'] === true).length, 6);
});

test('a span_key checked at export still serves beforePush, getActiveSpan and outgoingSpanKey', async () => {
  const t = setup({ idGenerator: undefined });
  const d = dto('svc.q', { trace_id: KEY.trace_id.toUpperCase(), span_id: KEY.span_id });
  await t.tracer.beforeRouting({ protocolDto: d });
  const active = t.tracer.getActiveSpan(KEY);
  assert.ok(active);
  assert.equal(active.traceId, HEX);
  assert.equal(active.parentSpanId, KEY.span_id);
  assert.deepEqual(t.tracer.outgoingSpanKey(KEY), { trace_id: KEY.trace_id, span_id: active.spanId });
  const metadata = { otlp_receive_span_id: active.spanId, otlp_route_key: 'svc.q' };
  assert.deepEqual(await t.buffered.beforePush(KEY, {}), metadata);
  // an after-hook with a replaced DTO still finds it by span_key
  await t.tracer.afterRouting({ protocolDto: { ...d }, responseDto: null });
  const [s] = await t.spans();
  assert.equal(s!.spanId, active.spanId);
  assert.equal(s!.status?.code, 1);
  await t.shutdown();
});
