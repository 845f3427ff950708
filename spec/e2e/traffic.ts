/**
 * The e2e traffic: two services on the in-process host, set up with initiateOtlpTracing and
 * pointed at a backend through OTEL_EXPORTER_OTLP_ENDPOINT, driven through every kind of span
 * the tracer makes. Returns what was sent (recorded byte for byte) and what to expect.
 */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';
import {
  initiateOtlpTracing,
  MiddlewareManager,
  BufferedMiddlewareManager,
  type OtlpTracing,
  type ExportStats,
  type SpanKey,
  VERSION,
} from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import assert from 'node:assert/strict';
import { attrMap, spansOf, type ExportTraceServiceRequest, type FlatSpan } from './harness.ts';

export class LogRequestFailDTO {
  constructor(readonly data: unknown) {}
}

export const NON_ASCII_ROUTE = 'tracker.журнал_запросов.日志.🚀';

export interface Traffic {
  /** Every span we sent, from the recording (the exact bytes that went out). */
  sent: FlatSpan[];
  /** Wall-clock window of the run, epoch ns. */
  window: { from: bigint; to: bigint };
  stats: { tracker: ExportStats; billing: ExportStats };
  keys: {
    regular: SpanKey[];
    buffered: SpanKey;
    hop: SpanKey;
    failing: SpanKey;
    invalid: unknown;
    nonAscii: SpanKey;
  };
  warnings: string[];
}

function key(): SpanKey {
  return { trace_id: randomUUID(), span_id: randomBytes(8).toString('hex') };
}

function setup(
  app: string,
  compression: 'gzip' | 'none',
  record: string,
  warnings: string[],
): { t: OtlpTracing; host: EcoHost } {
  const middlewareManager = new MiddlewareManager();
  const bufferedMiddlewareManager = new BufferedMiddlewareManager();
  const t = initiateOtlpTracing({
    appName: app,
    instance: '0',
    compression,
    recordPayloadsTo: record,
    scheduledDelayMillis: 50,
    middlewareManager,
    bufferedMiddlewareManager,
    logger: (m) => warnings.push(m),
  });
  return { t, host: new EcoHost({ middlewareManager, bufferedMiddlewareManager, autoProcess: false }) };
}

/** Runs the traffic against the OTLP base URL (the tracer reads it from OTEL_EXPORTER_OTLP_ENDPOINT). */
export async function runTraffic(otlpBaseUrl: string, compression: 'gzip' | 'none'): Promise<Traffic> {
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-e2e-traffic-'));
  const warnings: string[] = [];
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = otlpBaseUrl;
  let tracker: { t: OtlpTracing; host: EcoHost };
  let billing: { t: OtlpTracing; host: EcoHost };
  try {
    tracker = setup('tracker', compression, join(dir, 'tracker.ndjson'), warnings);
    billing = setup('billing', compression, join(dir, 'billing.ndjson'), warnings);
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
  }

  billing.host.endpoint('billing.record_usage', () => ({ recorded: true }));
  tracker.host.endpoint('tracker.log_request', () => ({ logged: true }));
  tracker.host.endpoint('tracker.report_usage', (dto) =>
    billing.host.request({
      route_key: 'billing.record_usage',
      span_key: tracker.t.tracer.outgoingSpanKey(dto.span_key),
      data: dto.data,
    }),
  );
  tracker.host.endpoint('tracker.explode', () => {
    throw new RangeError('cannot log: the ledger is full');
  });
  tracker.host.endpoint(NON_ASCII_ROUTE, () => 'ok');
  let attempts = 0;
  tracker.host.bufferedEndpoint('tracker.log_request_fail', () => ++attempts > 1, {
    model: LogRequestFailDTO,
    maxRetries: 3,
  });

  const keys = {
    regular: [key(), key(), key()],
    buffered: key(),
    hop: key(),
    failing: key(),
    invalid: { trace_id: 'not-a-uuid', span_id: 'nope' },
    nonAscii: key(),
  };
  const from = BigInt(Date.now()) * 1_000_000n;
  for (const k of keys.regular) {
    await tracker.host.request({ route_key: 'tracker.log_request', span_key: k, data: { n: 1 } });
  }
  await tracker.host.request({ route_key: 'tracker.log_request_fail', span_key: keys.buffered, data: { n: 2 } });
  await tracker.host.drain();
  await tracker.host.request({ route_key: 'tracker.report_usage', span_key: keys.hop, data: { units: 3 } });
  await tracker.host.request({ route_key: 'tracker.explode', span_key: keys.failing, data: {} }).catch(() => undefined);
  await tracker.host.request({ route_key: 'tracker.log_request', span_key: keys.invalid as SpanKey, data: {} });
  await tracker.host.request({ route_key: NON_ASCII_ROUTE, span_key: keys.nonAscii, data: {} });
  await tracker.t.tracer.forceFlush();
  await billing.t.tracer.forceFlush();
  const to = BigInt(Date.now()) * 1_000_000n;
  const stats = { tracker: tracker.t.tracer.stats(), billing: billing.t.tracer.stats() };
  await tracker.t.shutdown();
  await billing.t.shutdown();

  const sent: FlatSpan[] = [];
  for (const f of ['tracker.ndjson', 'billing.ndjson']) {
    const path = join(dir, f);
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line) sent.push(...spansOf(JSON.parse(line) as ExportTraceServiceRequest));
    }
  }
  return { sent, window: { from, to }, stats, keys, warnings };
}

export const hex = (uuid: string): string => uuid.replaceAll('-', '').toLowerCase();

/** A span as a canonical object: defaults dropped, int64 as strings, enums as numbers. */
export function canonical(f: FlatSpan): unknown {
  const s = f.span as unknown as Record<string, unknown>;
  const value = (v: Record<string, unknown>): unknown => {
    if ('intValue' in v) return { int: String(v.intValue) };
    if ('doubleValue' in v) return { double: Number(v.doubleValue) };
    if ('arrayValue' in v) {
      const values = ((v.arrayValue as { values?: unknown[] }).values ?? []) as Record<string, unknown>[];
      return { array: values.map(value) };
    }
    if ('boolValue' in v) return { bool: v.boolValue };
    return { string: v.stringValue };
  };
  type KeyValue = { key: string; value: Record<string, unknown> };
  const attrs = (list: unknown): unknown =>
    ((list as KeyValue[] | undefined) ?? []).map((kv) => [kv.key, value(kv.value)]);
  const status = (s.status ?? {}) as { code?: number; message?: string };
  return {
    resource: attrs(f.resource),
    scope: { name: f.scope.name ?? '', version: f.scope.version ?? '' },
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId || '',
    flags: Number(s.flags ?? 0),
    name: s.name,
    kind: Number(s.kind ?? 0),
    start: String(s.startTimeUnixNano),
    end: String(s.endTimeUnixNano),
    attributes: attrs(s.attributes),
    events: ((s.events as Record<string, unknown>[] | undefined) ?? []).map((e) => ({
      name: e.name,
      time: String(e.timeUnixNano),
      attributes: attrs(e.attributes),
    })),
    status: { code: Number(status.code ?? 0), message: status.message ?? '' },
  };
}

/** Checks that the sent spans say what the traffic did: names, kinds, parents, statuses, events. */
export function assertTrafficMeaning(tr: Traffic): void {
  const { sent, keys } = tr;
  assert.equal(sent.length, 11, `11 spans: ${sent.map((s) => s.span.name).join(', ')}`);
  assert.equal(new Set(sent.map((s) => s.span.spanId)).size, 11, 'distinct span ids');
  const byName = (n: string) => sent.filter((s) => s.span.name === n);
  const attr = (s: FlatSpan, k: string) => attrMap(s.span.attributes)[k];

  // regular requests: SERVER, child of the caller, OK
  const regular = byName('tracker.log_request').filter((s) => !attr(s, 'request.span_key_invalid'));
  assert.equal(regular.length, 3);
  for (const [i, k] of keys.regular.entries()) {
    const s = regular.find((r) => r.span.traceId === hex(k.trace_id))!;
    assert.ok(s, `regular request ${i}`);
    assert.equal(s.span.kind, 2);
    assert.equal(s.span.parentSpanId, k.span_id);
    assert.deepEqual(s.span.status, { code: 1 });
    assert.deepEqual(attr(s, 'request.trace_id'), { stringValue: k.trace_id });
    assert.deepEqual(attr(s, 'request.span_id'), { stringValue: k.span_id });
    assert.deepEqual(attr(s, 'request.route_key'), { stringValue: 'tracker.log_request' });
  }

  // buffered: receive span and two attempts under it
  const [receive] = byName('tracker.log_request_fail');
  const attempts = byName('LogRequestFailDTO.process');
  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.equal(a.span.kind, 5);
    assert.equal(a.span.traceId, hex(keys.buffered.trace_id));
    assert.equal(a.span.parentSpanId, receive!.span.spanId, 'parent across the queue');
  }
  const retries = (a: FlatSpan): number => Number(attr(a, 'request.retries')!.intValue);
  const [first, retry] = attempts.sort((a, b) => retries(a) - retries(b));
  assert.deepEqual(attr(first!, 'request.retries'), { intValue: '0' });
  assert.deepEqual(attr(first!, 'process.success'), { boolValue: false });
  assert.deepEqual(first!.span.status, { message: 'process attempt failed', code: 2 });
  assert.deepEqual(attr(retry!, 'request.retries'), { intValue: '1' });
  assert.deepEqual(attr(retry!, 'process.success'), { boolValue: true });
  assert.deepEqual(retry!.span.status, { code: 1 });

  // the hop: billing's span is the child of tracker's
  const [front] = byName('tracker.report_usage');
  const [back] = byName('billing.record_usage');
  assert.equal(back!.span.traceId, hex(keys.hop.trace_id));
  assert.equal(front!.span.parentSpanId, keys.hop.span_id);
  assert.equal(back!.span.parentSpanId, front!.span.spanId, 'parent across the hop');
  assert.deepEqual(attrMap(back!.resource)['service.name'], { stringValue: 'billing-0' });

  // the failed handler
  const [boom] = byName('tracker.explode');
  assert.deepEqual(boom!.span.status, { message: 'RangeError: cannot log: the ledger is full', code: 2 });
  const ev = boom!.span.events ?? [];
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.name, 'exception');
  assert.deepEqual(attrMap(ev[0]!.attributes)['exception.type'], { stringValue: 'RangeError' });
  assert.deepEqual(attrMap(ev[0]!.attributes)['exception.message'], { stringValue: 'cannot log: the ledger is full' });
  assert.match(String(attrMap(ev[0]!.attributes)['exception.stacktrace']?.stringValue), /^RangeError: cannot log/);

  // the invalid span_key: a fresh trace, flagged, no parent
  const [invalid] = byName('tracker.log_request').filter((s) => attr(s, 'request.span_key_invalid'));
  assert.deepEqual(attr(invalid!, 'request.span_key_invalid'), { boolValue: true });
  assert.equal(invalid!.span.parentSpanId ?? '', '');
  assert.match(invalid!.span.traceId, /^[0-9a-f]{32}$/);

  // non-ASCII route key
  const [na] = byName(NON_ASCII_ROUTE);
  assert.deepEqual(attr(na!, 'request.route_key'), { stringValue: NON_ASCII_ROUTE });

  // resource, scope, timestamps
  for (const s of sent) {
    const r = attrMap(s.resource);
    assert.match(String(r['service.name']?.stringValue), /^(tracker|billing)-0$/);
    assert.deepEqual(r['telemetry.sdk.name'], { stringValue: 'ekosis-otlp-traces' });
    assert.deepEqual(r['telemetry.sdk.language'], { stringValue: 'nodejs' });
    assert.deepEqual(r['telemetry.sdk.version'], { stringValue: VERSION });
    assert.deepEqual(s.scope, { name: 'ekosis-otlp-traces', version: VERSION });
    const start = BigInt(s.span.startTimeUnixNano as string);
    const end = BigInt(s.span.endTimeUnixNano as string);
    assert.ok(end >= start, `${s.span.name}: end >= start`);
    assert.ok(
      start >= tr.window.from - 50_000_000n && end <= tr.window.to + 50_000_000n,
      `${s.span.name}: epoch ns inside the test's window`,
    );
  }

  for (const st of [tr.stats.tracker, tr.stats.billing]) {
    assert.equal(st.dropped + st.rejected + st.failed + st.queued + st.inFlight, 0, JSON.stringify(st));
    assert.equal(st.exported, st.ended);
  }
  assert.equal(tr.stats.tracker.exported + tr.stats.billing.exported, 11);
  assert.deepEqual(tr.warnings, []);
}

