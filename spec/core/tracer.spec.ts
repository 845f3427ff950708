// The core entry (lib/core.ts) over real HTTP: spans started and ended by the caller reach a
// receiver on 127.0.0.1 exactly as expected (ids, parents, kinds, attributes, events, statuses),
// byte for byte what the main entry's tracer writes for the same spans; the queue bound, retries,
// gzip, redaction and the shutdown deadline hold as they do for the main entry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTracer, SpanKind, StatusCode, VERSION, type CoreTracerOptions } from '../../lib/core.ts';
import { Tracer } from '../../lib/trace/tracer.ts';
import { resolveConfig } from '../../lib/config/config.ts';
import { InMemoryExporter } from '../../lib/export/exporter.ts';
import { FLAGS_LOCAL_PARENT, FLAGS_REMOTE_PARENT, Span, exceptionAttributes } from '../../lib/trace/span.ts';
import { FakeReceiver, type Plan } from '../helpers/receiver-fake.ts';
import { failOnUnhandled } from '../helpers/no-unhandled.ts';
import { fakeClock, seqIds, T0 } from '../helpers/tracing.ts';

failOnUnhandled();

const receivers: FakeReceiver[] = [];
after(async () => {
  for (const receiver of receivers) await receiver.close();
});

async function receiver(plan?: Plan): Promise<FakeReceiver> {
  const started = await FakeReceiver.start(plan);
  receivers.push(started);
  return started;
}

/** A deterministic core tracer sending to `endpoint`, its diagnostics kept in `warnings`. */
function coreTracer(endpoint: string, options: Partial<CoreTracerOptions> = {}) {
  const warnings: string[] = [];
  const tracer = createTracer({
    serviceName: 'edge-fn',
    endpoint,
    clock: fakeClock().fn,
    idGenerator: seqIds(),
    scheduledDelayMillis: 60_000,
    logger: (message) => warnings.push(message),
    ...options,
  });
  return { tracer, warnings };
}

/** Epoch nanoseconds of the fake clock's n-th reading (250 µs each), as OTLP writes them. */
const at = (reading: number): string => String(T0 + BigInt(reading) * 250_000n);
const str = (value: string) => ({ stringValue: value });
const REMOTE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const REMOTE_PARENT = '00f067aa0ba902b7';
const STACK = 'TypeError: boom\n    at load (orders.js:1:1)';

function boom(): TypeError {
  const error = new TypeError('boom');
  error.stack = STACK;
  return error;
}

describe('core entry: spans over real HTTP', () => {
  it('sends a server span with a remote parent, its child and a root span, exactly', async () => {
    const rcv = await receiver();
    const { tracer, warnings } = coreTracer(rcv.url, { headers: { Authorization: 'Bearer s3cret-token-0001' } });
    // clock readings: 1 at creation (the base), then one per start, event and end
    const server = tracer.startSpan('GET /orders', {
      kind: SpanKind.SERVER,
      traceId: REMOTE_TRACE,
      parentSpanId: REMOTE_PARENT,
      attributes: { 'http.request.method': 'GET', retries: 0, cached: false, tags: ['a', 'b'] },
    }); // 2
    const child = tracer.startSpan('load orders', { parent: server }); // 3
    child.setAttribute('db.rows', 3).addEvent('cache-miss', { key: 'orders' }); // 4
    child.recordException(boom()).setStatus({ code: StatusCode.ERROR, message: 'db down' }); // 5
    child.end(); // 6
    const root = tracer.startSpan('tick', { kind: SpanKind.CLIENT }); // 7
    server.setStatus({ code: StatusCode.OK }).end(); // 8
    root.end(); // 9
    root.end(); // a second end does nothing
    assert.equal(server.traceId, REMOTE_TRACE);
    assert.equal(child.traceId, REMOTE_TRACE);
    assert.equal(child.spanId, '0000000000000002');
    await tracer.forceFlush();

    assert.equal(rcv.requests.length, 1);
    const request = rcv.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/traces');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers.authorization, 'Bearer s3cret-token-0001');
    assert.deepEqual(request.payload, {
      resourceSpans: [{
        resource: {
          attributes: [
            { key: 'service.name', value: str('edge-fn') },
            { key: 'telemetry.sdk.name', value: str('ekosis-otlp-traces') },
            { key: 'telemetry.sdk.language', value: str('nodejs') },
            { key: 'telemetry.sdk.version', value: str(VERSION) },
          ],
        },
        scopeSpans: [{
          scope: { name: 'ekosis-otlp-traces', version: VERSION },
          spans: [
            {
              traceId: REMOTE_TRACE, spanId: '0000000000000002', parentSpanId: '0000000000000001',
              flags: FLAGS_LOCAL_PARENT, name: 'load orders', kind: SpanKind.INTERNAL,
              startTimeUnixNano: at(3), endTimeUnixNano: at(6),
              attributes: [{ key: 'db.rows', value: { intValue: '3' } }],
              events: [
                { timeUnixNano: at(4), name: 'cache-miss', attributes: [{ key: 'key', value: str('orders') }] },
                {
                  timeUnixNano: at(5), name: 'exception',
                  attributes: [
                    { key: 'exception.type', value: str('TypeError') },
                    { key: 'exception.message', value: str('boom') },
                    { key: 'exception.stacktrace', value: str(STACK) },
                  ],
                },
              ],
              status: { message: 'db down', code: StatusCode.ERROR },
            },
            {
              traceId: REMOTE_TRACE, spanId: '0000000000000001', parentSpanId: REMOTE_PARENT,
              flags: FLAGS_REMOTE_PARENT, name: 'GET /orders', kind: SpanKind.SERVER,
              startTimeUnixNano: at(2), endTimeUnixNano: at(8),
              attributes: [
                { key: 'http.request.method', value: str('GET') },
                { key: 'retries', value: { intValue: '0' } },
                { key: 'cached', value: { boolValue: false } },
                { key: 'tags', value: { arrayValue: { values: [str('a'), str('b')] } } },
              ],
              status: { code: StatusCode.OK },
            },
            {
              traceId: 'f0000000000000000000000000000001', spanId: '0000000000000003',
              flags: FLAGS_LOCAL_PARENT, name: 'tick', kind: SpanKind.CLIENT,
              startTimeUnixNano: at(7), endTimeUnixNano: at(9),
            },
          ],
        }],
      }],
    });
    assert.deepEqual(tracer.stats(), {
      ended: 3, queued: 0, inFlight: 0, exported: 3, dropped: 0, rejected: 0, failed: 0, retries: 0,
      bytesSent: request.raw.length,
    });
    await tracer.shutdown();
    assert.deepEqual(warnings, []);
  });

  it('writes the same bytes as the main entry\'s tracer for the same spans', async () => {
    const rcv = await receiver();
    const { tracer } = coreTracer(rcv.url, { resourceAttributes: { 'deployment.environment': 'test' } });
    const server = tracer.startSpan('GET /orders', {
      kind: SpanKind.SERVER, traceId: REMOTE_TRACE, parentSpanId: REMOTE_PARENT, attributes: { n: 1.5 },
    });
    const child = tracer.startSpan('load', { parent: server }).recordException(boom());
    child.setStatus({ code: StatusCode.ERROR, message: 'failed' }).end();
    server.end();
    await tracer.forceFlush();
    await tracer.shutdown();

    // The main entry: its configuration and tracer, the same clock and ids, the same spans.
    const mem = new InMemoryExporter();
    const options = {
      serviceName: 'edge-fn', exporter: mem, clock: fakeClock().fn, idGenerator: seqIds(),
      scheduledDelayMillis: 60_000, resourceAttributes: { 'deployment.environment': 'test' },
    };
    const main = new Tracer(resolveConfig(options, {}, []));
    const ids = main.ids;
    const mainServer = Span.create({
      name: 'GET /orders', kind: SpanKind.SERVER, traceId: REMOTE_TRACE, spanId: ids.spanId(),
      parentSpanId: REMOTE_PARENT, flags: FLAGS_REMOTE_PARENT, start: main.clock.now(), attributes: ['n', 1.5],
    });
    const mainChild = Span.create({
      name: 'load', kind: SpanKind.INTERNAL, traceId: REMOTE_TRACE, spanId: ids.spanId(),
      parentSpanId: mainServer.spanId, flags: FLAGS_LOCAL_PARENT, start: main.clock.now(), attributes: [],
    });
    mainChild.addEvent('exception', main.clock.now(), exceptionAttributes(boom()));
    mainChild.statusCode = StatusCode.ERROR;
    mainChild.statusMessage = 'failed';
    main.end(mainChild);
    main.end(mainServer);
    await main.shutdown();

    assert.equal(rcv.requests.length, 1);
    assert.equal(mem.payloads.length, 1);
    assert.equal(rcv.requests[0]!.json, mem.payloads[0]);
  });

  it('gzips the body when asked (CompressionStream over fetch)', async () => {
    const rcv = await receiver();
    const { tracer } = coreTracer(rcv.url, { compression: 'gzip' });
    tracer.startSpan('zipped').end();
    await tracer.shutdown();
    assert.equal(rcv.requests.length, 1);
    assert.equal(rcv.requests[0]!.headers['content-encoding'], 'gzip');
    assert.deepEqual(rcv.requests[0]!.spans.map((s) => s.name), ['zipped']);
    assert.equal(tracer.stats().bytesSent, rcv.requests[0]!.raw.length);
  });

  it('retries a 503 with the same payload, then counts the span exported', async () => {
    const rcv = await receiver(({ count }) => (count === 1 ? { status: 503 } : { status: 200, body: '{}' }));
    const { tracer, warnings } = coreTracer(rcv.url, { retry: { initialBackoffMillis: 10, maxBackoffMillis: 10 } });
    tracer.startSpan('once').end();
    await tracer.forceFlush();
    assert.deepEqual(rcv.requests.map((r) => r.status), [503, 200]);
    assert.equal(rcv.requests[0]!.json, rcv.requests[1]!.json);
    const stats = tracer.stats();
    assert.deepEqual([stats.exported, stats.retries, stats.failed], [1, 1, 0]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /127\.0\.0\.1:\d+\/v1\/traces: HTTP 503; retrying 1 spans \(up to 4 more attempts\)$/);
    await tracer.shutdown();
  });

  it('never prints a header value, even when the collector echoes it', async () => {
    const echo: Plan = ({ req }) => ({ status: 401, body: `bad credentials: ${req.headers['x-api-key']}` });
    const rcv = await receiver(echo);
    const { tracer, warnings } = coreTracer(rcv.url, { headers: { 'x-api-key': 'k3y-v3ry-s3cret' } });
    tracer.startSpan('denied').end();
    await tracer.shutdown();
    assert.equal(rcv.requests.length, 1);
    assert.equal(tracer.stats().rejected, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /HTTP 401: bad credentials: \[redacted\]; 1 spans rejected \(not retried\)$/);
    assert.ok(!warnings.join('\n').includes('k3y-v3ry-s3cret'));
  });

  it('keeps at most maxQueueSize spans waiting: the rest are dropped and counted', async () => {
    const rcv = await receiver();
    const { tracer, warnings } = coreTracer(rcv.url, { maxQueueSize: 2 });
    for (let i = 0; i < 5; i++) tracer.startSpan(`s${i}`).end();
    assert.deepEqual([tracer.stats().queued, tracer.stats().dropped], [2, 3]);
    await tracer.shutdown();
    assert.deepEqual(rcv.requests.flatMap((r) => r.spans.map((s) => s.name)), ['s0', 's1']);
    assert.deepEqual(tracer.stats(), {
      ended: 5, queued: 0, inFlight: 0, exported: 2, dropped: 3, rejected: 0, failed: 0, retries: 0,
      bytesSent: rcv.requests[0]!.raw.length,
    });
    assert.deepEqual(warnings, [
      '[ekosis-otlp-traces] export queue full (2 spans), endpoint too slow; 3 spans dropped',
    ]);
  });

  it('shutdown resolves by its deadline against a collector that never answers', async () => {
    const rcv = await receiver(() => ({ hang: true }));
    const { tracer, warnings } = coreTracer(rcv.url, { shutdownTimeoutMillis: 300 });
    tracer.startSpan('stuck').end();
    const started = performance.now();
    await tracer.shutdown();
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 1000, `shutdown took ${took} ms`);
    assert.equal(rcv.requests.length, 1);
    const span = tracer.startSpan('late');
    span.end();
    assert.deepEqual(tracer.stats(), {
      ended: 2, queued: 0, inFlight: 0, exported: 0, dropped: 1, rejected: 0, failed: 1, retries: 0, bytesSent: 0,
    });
    assert.equal(await tracer.shutdown(), undefined, 'a second shutdown resolves too');
    assert.deepEqual(warnings, [
      '[ekosis-otlp-traces] shutdown deadline passed with 0 spans still queued (dropped) and 1 spans in flight ' +
        '(counted as failed)',
      '[ekosis-otlp-traces] span ended after shutdown; 1 span dropped',
    ]);
  });
});

describe('core entry: nothing throws into the caller', () => {
  it('a bad remote parent starts a new trace and says so', async () => {
    const mem = new InMemoryExporter();
    const { tracer, warnings } = coreTracer('http://127.0.0.1:1/v1/traces', { exporter: mem });
    const span = tracer.startSpan('orphan', { traceId: 'not-a-trace-id', parentSpanId: REMOTE_PARENT });
    span.end();
    await tracer.shutdown();
    assert.deepEqual(mem.spans.map((s) => [s.traceId, s.parentSpanId, s.flags]), [
      ['f0000000000000000000000000000001', '', FLAGS_LOCAL_PARENT],
    ]);
    assert.deepEqual(warnings, [
      '[ekosis-otlp-traces] startSpan: traceId must be 32 and parentSpanId 16 lowercase hex, not all zeros; ' +
        'the span starts a new trace',
    ]);
  });

  it('an id generator that fails gives random ids; bad attribute values and statuses are ignored', async () => {
    const mem = new InMemoryExporter();
    const idGenerator = { spanId: () => 'nope' };
    const { tracer, warnings } = coreTracer('http://127.0.0.1:1/v1/traces', { exporter: mem, idGenerator });
    const span = tracer.startSpan('random ids');
    span.setAttribute('ok', 'yes').setAttribute('bad', { no: 1 } as never).setAttribute('ok', 'replaced');
    span.setStatus({ code: 7 as never }).setAttributes(null as never);
    span.end();
    span.setAttribute('after', 'end');
    await tracer.shutdown();
    assert.equal(mem.spans.length, 1);
    assert.match(mem.spans[0]!.spanId, /^[\da-f]{16}$/);
    assert.deepEqual(mem.spans[0]!.attributes, { ok: 'replaced' });
    assert.equal(mem.spans[0]!.statusCode, StatusCode.UNSET);
    assert.equal(warnings.length, 1);
    const message = /idGenerator\.spanId\(\) must return 16 lowercase hex, not all zeros; got "nope"; a random id/;
    assert.match(warnings[0]!, message);
  });
  it('hostile names and attribute objects (throwing toString or getters) never throw into the caller', async () => {
    const mem = new InMemoryExporter();
    const { tracer } = coreTracer('http://127.0.0.1:1/v1/traces', { exporter: mem });
    const badName = { toString: () => { throw new Error('no name'); } } as unknown as string;
    const badAttributes = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get: () => { throw new Error('no value'); },
    });
    const span = tracer.startSpan(badName, { attributes: badAttributes });
    span.setAttributes(badAttributes).addEvent(badName, badAttributes).end();
    await tracer.shutdown();
    assert.deepEqual(mem.spans.map((s) => [s.name, s.attributes, s.events]), [
      ['', { ok: 1 }, [{ name: '', attributes: { ok: 1 } }]],
    ]);
  });
});

describe('core entry: a script that never calls shutdown', () => {
  it('still sends its spans (beforeExit) and exits', { timeout: 20_000 }, async () => {
    const rcv = await receiver();
    const child = fileURLToPath(new URL('./exit-child.ts', import.meta.url));
    const started = performance.now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', child, rcv.url], { timeout: 15_000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    assert.equal(stderr, '');
    assert.equal(code, 0);
    assert.ok(performance.now() - started < 10_000, 'the process exited on its own');
    assert.deepEqual(rcv.requests.flatMap((r) => r.spans.map((s) => s.name)), ['before exit']);
  });
});
