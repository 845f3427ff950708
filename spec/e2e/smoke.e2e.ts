/**
 * Proves the e2e harness: a hand-written OTLP/JSON ExportTraceServiceRequest, POSTed with plain
 * fetch (once plain, once gzip), is decoded by a real OpenTelemetry Collector (read back from
 * what its otlp_http exporter, encoding json, delivers to a sink) and by a real Jaeger v2 (read
 * back from its query API).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import { hasGo } from './backends.js';
import {
  attrMap,
  postOtlpJson,
  spansOf,
  startCollector,
  startJaeger,
  startSink,
  type ExportTraceServiceRequest,
  type JaegerSpan,
} from './harness.js';

const canRun = hasGo() || (process.env.EKOSIS_E2E_OTELCOL_BIN && process.env.EKOSIS_E2E_JAEGER_BIN);

/** Random lowercase hex id of `bytes` bytes (never all zero: first byte forced non-zero). */
function hexId(bytes: number): string {
  const b = randomBytes(bytes);
  b[0] = b[0]! | 0x10;
  return b.toString('hex');
}

interface Sample {
  traceId: string;
  parentId: string;
  childId: string;
  /** Nanosecond times, with sub-microsecond digits on purpose. */
  t: { parentStart: bigint; parentEnd: bigint; childStart: bigint; childEnd: bigint; event: bigint };
  request: ExportTraceServiceRequest;
}

/** 2 spans (parent SERVER with status ERROR + message, child CLIENT with OK), typed attributes, an event. */
function sample(variant: string): Sample {
  const traceId = hexId(16);
  const parentId = hexId(8);
  const childId = hexId(8);
  const base = (BigInt(Date.now()) - 2_000n) * 1_000_000n + 123_456n; // 2 s ago, ns
  const t = {
    parentStart: base,
    parentEnd: base + 25_000_789n,
    childStart: base + 1_000_001n,
    childEnd: base + 21_500_999n,
    event: base + 22_000_500n,
  };
  const request: ExportTraceServiceRequest = {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'e2e-smoke' } },
            { key: 'deployment.environment.name', value: { stringValue: variant } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: 'ekosis-otlp-traces/e2e-smoke', version: '0.1.0' },
            spans: [
              {
                traceId,
                spanId: parentId,
                name: 'GET /orders/{id}',
                kind: 2, // SERVER
                startTimeUnixNano: String(t.parentStart),
                endTimeUnixNano: String(t.parentEnd),
                attributes: [
                  { key: 'http.request.method', value: { stringValue: 'GET' } },
                  { key: 'http.response.status_code', value: { intValue: '500' } },
                  { key: 'cache.hit', value: { boolValue: false } },
                  { key: 'load.ratio', value: { doubleValue: 0.75 } },
                ],
                events: [
                  {
                    timeUnixNano: String(t.event),
                    name: 'exception',
                    attributes: [
                      { key: 'exception.type', value: { stringValue: 'UpstreamError' } },
                      { key: 'exception.message', value: { stringValue: 'db timeout' } },
                    ],
                  },
                ],
                status: { code: 2, message: 'upstream failed' }, // ERROR
              },
              {
                traceId,
                spanId: childId,
                parentSpanId: parentId,
                name: 'SELECT orders',
                kind: 3, // CLIENT
                startTimeUnixNano: String(t.childStart),
                endTimeUnixNano: String(t.childEnd),
                attributes: [
                  { key: 'db.system.name', value: { stringValue: 'postgresql' } },
                  { key: 'db.response.returned_rows', value: { intValue: '42' } },
                ],
                status: { code: 1 }, // OK
              },
            ],
          },
        ],
      },
    ],
  };
  return { traceId, parentId, childId, t, request };
}

const us = (ns: bigint) => Number(ns / 1000n);

describe('e2e harness: real backends decode hand-written OTLP/JSON', { skip: !canRun && 'go is not on PATH' }, () => {
  test('OpenTelemetry Collector → otlp_http (json) → sink', { timeout: 120_000 }, async (t) => {
    const sink = await startSink({ t });
    const collector = await startCollector({ sinkUrl: sink.url, t });
    try {
      for (const gzip of [false, true]) {
        await t.test(gzip ? 'gzip request' : 'plain request', async () => {
          const s = sample(gzip ? 'gzip' : 'plain');
          const before = sink.bodies.length;
          const spansBefore = sink.spans().length;
          const res = await postOtlpJson(collector.tracesUrl, s.request, { gzip });
          assert.equal(res.status, 200, `collector answered ${res.status}: ${res.text}`);
          assert.deepEqual(JSON.parse(res.text), { partialSuccess: {} });

          // No queue and no retries: the sink has it once the receiver answered; still, a bounded wait.
          await sink.waitForSpans(spansBefore + 2, { timeoutMs: 10_000 });
          const got = sink.bodies.slice(before);
          assert.equal(got.length, 1, 'exactly one export request reached the sink');
          const delivered = got[0]!;
          assert.equal(delivered.method, 'POST');
          assert.equal(delivered.path, '/v1/traces');
          assert.equal(delivered.headers['content-type'], 'application/json');
          assert.equal(delivered.headers['content-encoding'], undefined, 'compression: none');
          const body = delivered.json as ExportTraceServiceRequest;

          // Field by field, for readable failures…
          const spans = spansOf(body);
          assert.equal(spans.length, 2);
          const [parent, child] = spans.map((f) => f.span);
          assert.equal(attrMap(spans[0]!.resource)['service.name']?.stringValue, 'e2e-smoke');
          assert.deepEqual(spans[0]!.scope, { name: 'ekosis-otlp-traces/e2e-smoke', version: '0.1.0' });
          assert.equal(parent!.traceId, s.traceId);
          assert.equal(parent!.spanId, s.parentId);
          assert.equal(parent!.parentSpanId, undefined);
          assert.equal(parent!.name, 'GET /orders/{id}');
          assert.equal(parent!.kind, 2);
          assert.deepEqual(parent!.status, { code: 2, message: 'upstream failed' });
          assert.equal(parent!.startTimeUnixNano, String(s.t.parentStart));
          assert.equal(parent!.endTimeUnixNano, String(s.t.parentEnd));
          assert.deepEqual(attrMap(parent!.attributes), {
            'http.request.method': { stringValue: 'GET' },
            'http.response.status_code': { intValue: '500' },
            'cache.hit': { boolValue: false },
            'load.ratio': { doubleValue: 0.75 },
          });
          assert.equal(parent!.events?.[0]?.name, 'exception');
          assert.equal(parent!.events?.[0]?.timeUnixNano, String(s.t.event));
          assert.equal(child!.traceId, s.traceId);
          assert.equal(child!.spanId, s.childId);
          assert.equal(child!.parentSpanId, s.parentId);
          assert.equal(child!.name, 'SELECT orders');
          assert.equal(child!.kind, 3);
          assert.deepEqual(child!.status, { code: 1 });
          assert.deepEqual(attrMap(child!.attributes), {
            'db.system.name': { stringValue: 'postgresql' },
            'db.response.returned_rows': { intValue: '42' },
          });
          // …and then the whole thing: the Collector re-encodes exactly what it was sent.
          assert.deepEqual(body, s.request);
        });
      }
      assert.match(collector.process.log(), /Everything is ready/);
    } finally {
      await collector.stop();
      await sink.close();
    }
  });

  test('Jaeger v2 (memory storage) → query API', { timeout: 120_000 }, async (t) => {
    const jaeger = await startJaeger({ t });
    try {
      for (const gzip of [false, true]) {
        await t.test(gzip ? 'gzip request' : 'plain request', async () => {
          const variant = gzip ? 'gzip' : 'plain';
          const s = sample(variant);
          const res = await postOtlpJson(jaeger.tracesUrl, s.request, { gzip });
          assert.equal(res.status, 200, `jaeger answered ${res.status}: ${res.text}`);

          const trace = await jaeger.waitForTrace(s.traceId, 2, { timeoutMs: 10_000 });
          assert.equal(trace.traceID, s.traceId);
          assert.equal(trace.spans.length, 2);
          const byId = new Map<string, JaegerSpan>(trace.spans.map((sp) => [sp.spanID, sp]));
          const parent = byId.get(s.parentId);
          const child = byId.get(s.childId);
          assert.ok(parent && child, `span ids ${[...byId.keys()].join(', ')}`);

          assert.equal(parent.operationName, 'GET /orders/{id}');
          assert.equal(child.operationName, 'SELECT orders');
          assert.deepEqual(parent.references, []);
          assert.deepEqual(child.references, [{ refType: 'CHILD_OF', traceID: s.traceId, spanID: s.parentId }]);

          // One process: service.name becomes serviceName, other resource attributes its tags.
          assert.equal(parent.processID, child.processID);
          assert.deepEqual(trace.processes[parent.processID], {
            serviceName: 'e2e-smoke',
            tags: [{ key: 'deployment.environment.name', type: 'string', value: variant }],
          });

          // Times are microseconds (truncated); duration is (end - start) truncated to µs.
          assert.equal(parent.startTime, us(s.t.parentStart));
          assert.equal(parent.duration, us(s.t.parentEnd - s.t.parentStart));
          assert.equal(child.startTime, us(s.t.childStart));
          assert.equal(child.duration, us(s.t.childEnd - s.t.childStart));

          // Tags come back sorted by key, typed; kind, status and scope are folded into tags.
          assert.deepEqual(parent.tags, [
            { key: 'cache.hit', type: 'bool', value: false },
            { key: 'error', type: 'bool', value: true },
            { key: 'http.request.method', type: 'string', value: 'GET' },
            { key: 'http.response.status_code', type: 'int64', value: 500 },
            { key: 'load.ratio', type: 'float64', value: 0.75 },
            { key: 'otel.scope.name', type: 'string', value: 'ekosis-otlp-traces/e2e-smoke' },
            { key: 'otel.scope.version', type: 'string', value: '0.1.0' },
            { key: 'otel.status_code', type: 'string', value: 'ERROR' },
            { key: 'otel.status_description', type: 'string', value: 'upstream failed' },
            { key: 'span.kind', type: 'string', value: 'server' },
          ]);
          assert.deepEqual(child.tags, [
            { key: 'db.response.returned_rows', type: 'int64', value: 42 },
            { key: 'db.system.name', type: 'string', value: 'postgresql' },
            { key: 'otel.scope.name', type: 'string', value: 'ekosis-otlp-traces/e2e-smoke' },
            { key: 'otel.scope.version', type: 'string', value: '0.1.0' },
            { key: 'otel.status_code', type: 'string', value: 'OK' },
            { key: 'span.kind', type: 'string', value: 'client' },
          ]);
          // Events become logs; the event name is the field "event"; fields sorted by key too.
          assert.deepEqual(parent.logs, [
            {
              timestamp: us(s.t.event),
              fields: [
                { key: 'event', type: 'string', value: 'exception' },
                { key: 'exception.message', type: 'string', value: 'db timeout' },
                { key: 'exception.type', type: 'string', value: 'UpstreamError' },
              ],
            },
          ]);
          assert.deepEqual(child.logs, []);

          // The v3 API answers in OTLP/JSON shape, with full-precision times and the status as sent.
          const v3 = await jaeger.getTraceV3(s.traceId);
          assert.ok(v3, 'v3 trace');
          const v3spans = spansOf(v3);
          assert.equal(v3spans.length, 2);
          assert.equal(attrMap(v3spans[0]!.resource)['service.name']?.stringValue, 'e2e-smoke');
          const v3parent = v3spans.find((f) => f.span.spanId === s.parentId)?.span;
          const v3child = v3spans.find((f) => f.span.spanId === s.childId)?.span;
          assert.ok(v3parent && v3child);
          assert.equal(v3parent.traceId, s.traceId);
          assert.deepEqual(v3parent.status, { code: 2, message: 'upstream failed' });
          assert.equal(v3parent.kind, 2);
          assert.equal(v3parent.startTimeUnixNano, String(s.t.parentStart));
          assert.equal(v3parent.endTimeUnixNano, String(s.t.parentEnd));
          assert.equal(v3child.parentSpanId, s.parentId);
          assert.deepEqual(v3child.status, { code: 1 });
          assert.deepEqual(
            attrMap(v3parent.attributes),
            attrMap(s.request.resourceSpans![0]!.scopeSpans![0]!.spans![0]!.attributes),
          );
        });
      }
      // an unknown trace is "not found", not an error
      assert.equal(await jaeger.getTrace('0123456789abcdef0123456789abcdef'), undefined);
    } finally {
      await jaeger.stop();
    }
  });
});
