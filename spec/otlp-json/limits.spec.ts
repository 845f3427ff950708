// What one span may cost (issue 13, item 1): values are cut at a default length, a span still too
// big after that is dropped and counted, and neither poisons the bodies of later batches or of
// other tracers. Through the real HTTP exporter to a receiver on 127.0.0.1 where it matters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OtlpTracingMiddleware, SpanKind } from '../../lib/index.ts';
import type { ExportStats, RequestDTO, SpanKey } from '../../lib/index.ts';
import { FLAGS_LOCAL_PARENT, Span } from '../../lib/trace/span.ts';
import { makeClock } from '../../lib/trace/clock.ts';
import { encodeBatch, encodeBatchBytes, type EncoderOptions } from '../../lib/otlp-json/encode.ts';
import { failOnUnhandled } from '../helpers/no-unhandled.ts';
import { withReceiver, OK, type Plan } from '../helpers/receiver-fake.ts';

failOnUnhandled();

const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns
const MIB = 1024 * 1024;
const DEFAULT_LIMIT = 8192;

function keyOf(i: number): SpanKey {
  const h = (0xabc00000 + i).toString(16).padStart(32, '0');
  return {
    trace_id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
    span_id: 'c' + i.toString(16).padStart(15, '0'),
  };
}

function tracer(endpoint: string, opts: Record<string, unknown> = {}): { mw: OtlpTracingMiddleware; lines: string[] } {
  const lines: string[] = [];
  let t = T0;
  let sid = 0;
  const mw = new OtlpTracingMiddleware({
    endpoint,
    serviceName: 'tracker-0',
    scheduledDelayMillis: 60_000,
    maxQueueSize: 4096,
    maxExportBatchSize: 512,
    retry: { maxAttempts: 2, initialBackoffMillis: 10, maxBackoffMillis: 20, maxRetryAfterMillis: 100 },
    clock: () => (t += 1_000_000n),
    idGenerator: { spanId: () => (++sid).toString(16).padStart(16, '0') },
    logger: (m: string) => void lines.push(m),
    ...opts,
  });
  return { mw, lines };
}

async function request(mw: OtlpTracingMiddleware, i: number, error?: unknown): Promise<void> {
  const dto: RequestDTO = { route_key: 'tracker.log_request', span_key: keyOf(i), data: { n: i } };
  await mw.beforeRouting({ protocolDto: dto });
  if (error === undefined) await mw.afterRouting({ protocolDto: dto, responseDto: i });
  else await mw.routingFailed({ protocolDto: dto, error });
}

async function requests(mw: OtlpTracingMiddleware, n: number, from: number): Promise<void> {
  for (let i = from; i < from + n; i++) await request(mw, i);
}

function addsUp(s: ExportStats): void {
  const total = s.exported + s.dropped + s.rejected + s.failed + s.queued + s.inFlight;
  assert.equal(total, s.ended, `stats add up: ${JSON.stringify(s)}`);
}

function counts(s: ExportStats) {
  return { ended: s.ended, exported: s.exported, dropped: s.dropped, rejected: s.rejected, failed: s.failed };
}

/** A span made by hand (as an extension would), ended through the tracer. */
function handMade(mw: OtlpTracingMiddleware, name: string, attrs: unknown[], events = 0): Span {
  const s = Span.create({
    name,
    kind: SpanKind.INTERNAL,
    traceId: 'e'.repeat(32),
    flags: FLAGS_LOCAL_PARENT,
    start: 0,
    attributes: attrs,
  });
  for (let i = 0; i < events; i++) s.addEvent('tick', 0, ['n', i]);
  mw.tracer.end(s);
  return s;
}

const attr = (span: any, key: string): unknown => span.attributes?.find((a: any) => a.key === key)?.value.stringValue;

test('a 10 MiB exception message is cut to the default value length limit; later batches export normally', async () => {
  await withReceiver(OK, async (rcv) => {
    const { mw, lines } = tracer(rcv.url);
    const error = new Error('m'.repeat(10 * MIB));
    await request(mw, 0, error);
    await mw.forceFlush();
    assert.equal(rcv.requests.length, 1);
    const [span] = rcv.requests[0]!.spans;
    const exception = span.events[0];
    assert.equal(exception.name, 'exception');
    // (compared as lengths first: a failing assert would print 10 MiB)
    const message = attr(exception, 'exception.message') as string;
    const stack = attr(exception, 'exception.stacktrace') as string;
    const lengths = [message.length, stack.length, span.status.message.length];
    assert.deepEqual(lengths, [DEFAULT_LIMIT, DEFAULT_LIMIT, DEFAULT_LIMIT]);
    assert.ok(message === 'm'.repeat(DEFAULT_LIMIT), 'the message cut');
    assert.ok(stack === error.stack!.slice(0, DEFAULT_LIMIT), 'the stack trace cut');
    assert.ok(span.status.message === ('Error: ' + error.message).slice(0, DEFAULT_LIMIT), 'the status message cut');
    assert.ok(rcv.requests[0]!.raw.length < 32 * 1024, `body of ${rcv.requests[0]!.raw.length} bytes`);

    await requests(mw, 3 * 512, 1);
    await mw.forceFlush();
    const later = rcv.requests.slice(1).map((r) => [r.spans.length, r.status]);
    assert.deepEqual(later, [[512, 200], [512, 200], [512, 200]]);
    assert.deepEqual(counts(mw.stats()), { ended: 1537, exported: 1537, dropped: 0, rejected: 0, failed: 0 });
    assert.deepEqual(lines, []);
    await mw.shutdown();
  });
});

test('two tracers: one dropping a span too big to send leaves the other untouched', async () => {
  await withReceiver(OK, async (rcvA) => {
    await withReceiver(OK, async (rcvB) => {
      // A: a limit raised so far that the 10 MiB message stays whole and the span is too big.
      const a = tracer(rcvA.url, { attributeValueLengthLimit: 20 * MIB });
      const b = tracer(rcvB.url);
      await request(a.mw, 0, new Error('m'.repeat(10 * MIB)));
      await request(a.mw, 1);
      await a.mw.forceFlush();
      assert.deepEqual(rcvA.requests.map((r) => r.spans.map((s) => s.name)), [['tracker.log_request']]);
      assert.equal(attr(rcvA.requests[0]!.spans[0], 'request.trace_id'), keyOf(1).trace_id);
      assert.deepEqual(counts(a.mw.stats()), { ended: 2, exported: 1, dropped: 1, rejected: 0, failed: 0 });
      assert.equal(a.lines.length, 1);
      assert.equal(
        a.lines[0],
        '[ekosis-otlp-traces] span "tracker.log_request" too large to export: more than 1048576 bytes of JSON ' +
          'with values cut to 20971520 characters; 1 span dropped',
      );

      await requests(b.mw, 2 * 512, 0);
      await b.mw.forceFlush();
      assert.deepEqual(rcvB.requests.map((r) => [r.spans.length, r.status]), [[512, 200], [512, 200]]);
      assert.deepEqual(counts(b.mw.stats()), { ended: 1024, exported: 1024, dropped: 0, rejected: 0, failed: 0 });
      assert.deepEqual(b.lines, []);
      await a.mw.shutdown();
      await b.mw.shutdown();
    });
  });
});

test('spans too big after cutting values are dropped and counted, one diagnostic; batch-mates are sent', async () => {
  await withReceiver(OK, async (rcv) => {
    const { mw, lines } = tracer(rcv.url);
    const manyAttributes: unknown[] = [];
    for (let i = 0; i < 20_000; i++) manyAttributes.push('attribute.' + i, 'v'.repeat(100));
    // Every value cut to 8192 characters, and still 1.6 MiB in all.
    const longValues: unknown[] = [];
    for (let i = 0; i < 200; i++) longValues.push('long.' + i, 'w'.repeat(100_000));
    await request(mw, 0);
    handMade(mw, 'many.attributes', manyAttributes);
    await request(mw, 1);
    handMade(mw, 'many.events', [], 50_000);
    await request(mw, 2);
    handMade(mw, 'long.values', longValues);
    handMade(mw, 'fine', ['ok', 'v'.repeat(100_000)]);
    await request(mw, 3);
    await mw.forceFlush();

    assert.equal(rcv.requests.length, 1);
    const sent = rcv.requests[0]!.spans;
    const route = 'tracker.log_request';
    assert.deepEqual(sent.map((s) => s.name), [route, route, route, 'fine', route]);
    const traces = sent.filter((s) => s.name === route).map((s) => attr(s, 'request.trace_id'));
    assert.deepEqual(traces, [0, 1, 2, 3].map((i) => keyOf(i).trace_id));
    assert.equal(attr(sent[3], 'ok'), 'v'.repeat(DEFAULT_LIMIT));
    const stats = mw.stats();
    assert.deepEqual(counts(stats), { ended: 8, exported: 5, dropped: 3, rejected: 0, failed: 0 });
    addsUp(stats);
    // Rate-limited: the first one said at once, the others summed up later.
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.equal(
      lines[0],
      '[ekosis-otlp-traces] span "many.attributes" too large to export: more than 1048576 bytes of JSON ' +
        'with values cut to 8192 characters; 1 span dropped',
    );
    await mw.shutdown();
    assert.match(lines.at(-1)!, /span-dropped: 2 more like it, costing 2 spans/);
  });
});

test('a dropped span is counted once when its batch is split on 413 and re-encoded', async () => {
  const plan: Plan = ({ count }) => (count === 1 ? { status: 413, body: 'too large' } : { status: 200, body: '{}' });
  await withReceiver(plan, async (rcv) => {
    const { mw } = tracer(rcv.url);
    await request(mw, 0);
    await request(mw, 1);
    handMade(mw, 'huge', ['x', 'y'.repeat(100)], 30_000);
    await request(mw, 2);
    await mw.forceFlush();
    assert.deepEqual(rcv.requests.map((r) => [r.spans.length, r.status]), [[3, 413], [2, 200], [1, 200]]);
    const stats = mw.stats();
    assert.deepEqual(counts(stats), { ended: 4, exported: 3, dropped: 1, rejected: 0, failed: 0 });
    addsUp(stats);
    await mw.shutdown();
  });
});

// The encoder alone.

const opts: EncoderOptions = {
  resource: { 'service.name': 'tracker-0' },
  scopeName: 'ekosis-otlp-traces',
  scopeVersion: '9.9.9',
  valueLengthLimit: Infinity,
  clock: makeClock(() => T0),
};

function plain(name: string, attrs: unknown[] = []): Span {
  const [traceId, spanId, parentId] = ['3f2a1b4c5d6e4f8091a2b3c4d5e6f708', '00000000000000a1', '9c7e5a3b1d0f2e4c'];
  const s = Span.create({
    name,
    kind: SpanKind.SERVER,
    traceId,
    spanId,
    parentSpanId: parentId,
    flags: FLAGS_LOCAL_PARENT,
    start: 0,
    attributes: attrs,
  });
  s.end = 1_500_000;
  return s;
}

test('a body is sized from its own batch: a big span before does not inflate the next body', () => {
  const big = encodeBatchBytes([plain('big', ['x', 'z'.repeat(900_000)])], opts);
  assert.ok(big.byteLength > 900_000);
  const spans = Array.from({ length: 10 }, (_, i) => plain('small.' + i));
  const small = encodeBatchBytes(spans, opts);
  assert.equal(JSON.parse(new TextDecoder().decode(small)).resourceSpans[0].scopeSpans[0].spans.length, 10);
  assert.ok(small.buffer.byteLength <= 64 * 1024, `a 10-span body in a buffer of ${small.buffer.byteLength} bytes`);
});

test('the encoder leaves out a span it cannot encode (a key that throws, a span too big) and says which', () => {
  const hostile = {
    toString(): string {
      throw new Error('no');
    },
  };
  const dropped: [string, string][] = [];
  const body = encodeBatchBytes(
    [plain('a'), plain('throws', [hostile, 1]), plain('b'), plain('too.big', ['x', 'z'.repeat(2 * MIB)]), plain('c')],
    opts,
    undefined,
    (span, why) => dropped.push([span.name, why]),
  );
  const spans = JSON.parse(new TextDecoder().decode(body)).resourceSpans[0].scopeSpans[0].spans;
  const names = spans.map((s: Span) => s.name);
  assert.deepEqual(names, ['a', 'b', 'c']);
  assert.deepEqual(dropped, [
    ['throws', 'could not be encoded: Error: no'],
    ['too.big', 'too large to export: more than 1048576 bytes of JSON (no value length limit is set)'],
  ]);
  // And the same without a callback: still left out.
  assert.doesNotMatch(encodeBatch([plain('a'), plain('too.big', ['x', 'z'.repeat(2 * MIB)])], opts), /too\.big/);
});

test('event names and attribute values of events are cut like the rest', () => {
  const s = plain('e');
  s.addEvent('exception'.repeat(3), 0, ['exception.message', 'm'.repeat(50), 'exception.stacktrace', 's'.repeat(50)]);
  const span = JSON.parse(encodeBatch([s], { ...opts, valueLengthLimit: 10 })).resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(span.events[0].name, 'exceptione');
  assert.deepEqual(span.events[0].attributes.map((a: any) => a.value.stringValue), ['m'.repeat(10), 's'.repeat(10)]);
});
