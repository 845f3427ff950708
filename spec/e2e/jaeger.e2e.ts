/**
 * Our tracer → a real Jaeger v2 (OTLP HTTP receiver, in-memory storage), gzip on; every trace
 * read back through Jaeger's query API must show the trees, services and error statuses sent.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasGo } from './backends.ts';
import { startJaeger, type JaegerSpan, type JaegerTrace } from './harness.ts';
import { runTraffic, hex, NON_ASCII_ROUTE, assertTrafficMeaning } from './traffic.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { initiateOtlpTracing, MiddlewareManager, BufferedMiddlewareManager } from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import { annotatedHandler } from '../fixtures/scenarios.ts';

const canRun = hasGo() || Boolean(process.env.EKOSIS_E2E_JAEGER_BIN);

function tag(s: JaegerSpan, key: string): unknown {
  return s.tags?.find((t) => t.key === key)?.value;
}

function service(tr: JaegerTrace, s: JaegerSpan): string {
  return tr.processes[s.processID]!.serviceName;
}

function parentOf(s: JaegerSpan): string | undefined {
  return s.references?.find((r) => r.refType === 'CHILD_OF')?.spanID;
}

/** The trace as an indented tree of "service name status" lines, children sorted by name then start. */
function tree(tr: JaegerTrace): string[] {
  const ids = new Set(tr.spans.map((s) => s.spanID));
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    const kids = tr.spans
      .filter((s) => (parent === undefined ? !ids.has(parentOf(s) ?? '') : parentOf(s) === parent))
      .sort((a, b) => a.startTime - b.startTime || a.operationName.localeCompare(b.operationName));
    for (const s of kids) {
      const status = tag(s, 'otel.status_code') ?? 'UNSET';
      lines.push(
        `${'  '.repeat(depth)}${service(tr, s)} ${s.operationName} ${String(tag(s, 'span.kind'))} ${String(status)}`,
      );
      walk(s.spanID, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

const skip = { skip: !canRun && 'go is not on PATH' };

describe('Jaeger v2 stores and returns exactly the traces the tracer sends', skip, () => {
  test('gzip on: trees, services, error statuses', { timeout: 120_000 }, async (t) => {
    const jaeger = await startJaeger({ t });
    const traffic = await runTraffic(jaeger.otlpUrl, 'gzip');
    assertTrafficMeaning(traffic);
    const { keys } = traffic;

    // Every sent span comes back, with its ids, parent, name and times (µs).
    const traceIds = [...new Set(traffic.sent.map((s) => s.span.traceId))];
    const got = new Map<string, JaegerTrace>();
    for (const id of traceIds) {
      const n = traffic.sent.filter((s) => s.span.traceId === id).length;
      got.set(id, await jaeger.waitForTrace(id, n, { timeoutMs: 15_000 }));
    }
    for (const s of traffic.sent) {
      const tr = got.get(s.span.traceId)!;
      const j = tr.spans.find((x) => x.spanID === s.span.spanId);
      assert.ok(j, `${s.span.name} in Jaeger`);
      assert.equal(j.traceID, s.span.traceId);
      assert.equal(j.operationName, s.span.name);
      assert.equal(parentOf(j) ?? '', s.span.parentSpanId ?? '');
      assert.equal(j.startTime, Number(BigInt(s.span.startTimeUnixNano as string) / 1000n), 'start in µs');
      assert.equal(service(tr, j), s.span.name.startsWith('billing') ? 'billing-0' : 'tracker-0');
    }

    // The buffered entry: receive span with both attempts under it.
    assert.deepEqual(tree(got.get(hex(keys.buffered.trace_id))!), [
      'tracker-0 tracker.log_request_fail server OK',
      '  tracker-0 LogRequestFailDTO.process consumer ERROR',
      '  tracker-0 LogRequestFailDTO.process consumer OK',
    ]);
    // The hop: billing nests under tracker, across services.
    assert.deepEqual(tree(got.get(hex(keys.hop.trace_id))!), [
      'tracker-0 tracker.report_usage server OK',
      '  billing-0 billing.record_usage server OK',
    ]);
    // The failed handler: error status, message, exception log.
    const boomTrace = got.get(hex(keys.failing.trace_id))!;
    const [boom] = boomTrace.spans;
    assert.equal(tag(boom!, 'otel.status_code'), 'ERROR');
    assert.equal(tag(boom!, 'otel.status_description'), 'RangeError: cannot log: the ledger is full');
    assert.equal(tag(boom!, 'error'), true);
    const log = boom!.logs?.[0];
    assert.equal(log?.fields.find((f) => f.key === 'event')?.value, 'exception');
    assert.equal(log?.fields.find((f) => f.key === 'exception.type')?.value, 'RangeError');
    // The failed attempt carries its message too; typed attributes survive.
    const failed = got.get(hex(keys.buffered.trace_id))!.spans.find((s) => tag(s, 'otel.status_code') === 'ERROR')!;
    assert.equal(tag(failed, 'otel.status_description'), 'process attempt failed');
    assert.equal(tag(failed, 'request.retries'), 0);
    assert.equal(tag(failed, 'process.success'), false);
    assert.equal(failed.tags?.find((x) => x.key === 'request.retries')?.type, 'int64');
    // Non-ASCII text arrives intact.
    const [na] = got.get(hex(keys.nonAscii.trace_id))!.spans;
    assert.equal(na!.operationName, NON_ASCII_ROUTE);
    // Scope and services.
    assert.equal(tag(boom!, 'otel.scope.name'), 'ekosis-otlp-traces');
    const services = await (await fetch(`${jaeger.queryUrl}/api/services`)).json() as { data: string[] };
    assert.deepEqual([...services.data].sort(), ['billing-0', 'tracker-0']);
  });

  const spanApiTest = "span API: a handler's attribute, event and nested withSpan children, with their parents";
  test(spanApiTest, { timeout: 120_000 }, async (t) => {
    const jaeger = await startJaeger({ t });
    const middlewareManager = new MiddlewareManager();
    const tracing = initiateOtlpTracing({
      appName: 'tracker',
      instance: '0',
      endpoint: jaeger.tracesUrl,
      scheduledDelayMillis: 50,
      handlerSpans: true,
      middlewareManager,
      bufferedMiddlewareManager: new BufferedMiddlewareManager(),
    });
    const host = new EcoHost({ middlewareManager });
    host.endpoint('tracker.log_request', annotatedHandler);
    const key = { trace_id: randomUUID(), span_id: randomBytes(8).toString('hex') };
    await host.request({ route_key: 'tracker.log_request', span_key: key, data: {} });
    await tracing.shutdown();
    assert.equal(tracing.tracer.stats().exported, 3);

    const tr = await jaeger.waitForTrace(hex(key.trace_id), 3, { timeoutMs: 15_000 });
    assert.deepEqual(tree(tr), [
      'tracker-0 tracker.log_request server OK',
      '  tracker-0 order.save internal UNSET',
      '    tracker-0 db.insert client ERROR',
    ]);
    const byName = new Map(tr.spans.map((s) => [s.operationName, s]));
    const request = byName.get('tracker.log_request')!;
    const save = byName.get('order.save')!;
    const insert = byName.get('db.insert')!;
    assert.equal(parentOf(request), key.span_id, 'the request span under the caller');
    assert.equal(parentOf(save), request.spanID);
    assert.equal(parentOf(insert), save.spanID);
    assert.equal(tag(request, 'user.id'), 42);
    assert.equal(request.logs?.[0]?.fields.find((f) => f.key === 'event')?.value, 'validated');
    assert.equal(tag(save, 'order.items'), 3);
    assert.equal(tag(insert, 'otel.status_description'), 'Error: connection reset');
    assert.equal(insert.logs?.[0]?.fields.find((f) => f.key === 'exception.message')?.value, 'connection reset');
  });
});
