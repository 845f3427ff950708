// Test helpers: a deterministic tracer on an in-memory exporter, wired into an isolated host,
// and a flattening of OTLP payloads into plain span records for exact assertions.
import {
  InMemoryExporter,
  MiddlewareManager,
  BufferedMiddlewareManager,
  initiateOtlpTracing,
  type InitiateOptions,
} from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';

export const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns

/** A clock that advances 250 µs per reading, from T0. */
export function fakeClock(start = T0, step = 250_000n): { fn: () => bigint; advance(ns: bigint): void } {
  let t = start;
  return {
    fn: () => (t += step),
    advance: (ns) => {
      t += ns;
    },
  };
}

/** Sequential ids: span ids 00..01, 00..02; trace ids ff..01 … (for span_keys that were invalid). */
export function seqIds(): { traceId(): string; spanId(): string } {
  let s = 0;
  let t = 0;
  return {
    spanId: () => (++s).toString(16).padStart(16, '0'),
    traceId: () => 'f' + (++t).toString(16).padStart(31, '0'),
  };
}

export function setup(opts: InitiateOptions = {}) {
  const mem = new InMemoryExporter();
  const clock = fakeClock();
  const middlewareManager = new MiddlewareManager();
  const bufferedMiddlewareManager = new BufferedMiddlewareManager();
  const warnings: string[] = [];
  const tracing = initiateOtlpTracing({
    exporter: mem,
    appName: 'tracker',
    instance: '0',
    clock: clock.fn,
    idGenerator: seqIds(),
    scheduledDelayMillis: 60_000,
    maxExportBatchSize: 2048,
    middlewareManager,
    bufferedMiddlewareManager,
    logger: (m) => warnings.push(m),
    ...opts,
  });
  const host = new EcoHost({ middlewareManager, bufferedMiddlewareManager, autoProcess: false });
  return {
    ...tracing,
    mem,
    clock,
    host,
    warnings,
    middlewareManager,
    bufferedMiddlewareManager,
    /** Flushes and returns every exported span, flattened, in export order. */
    async spans(): Promise<FlatSpan[]> {
      await tracing.tracer.forceFlush();
      // A hook that failed inside reports it as a diagnostic; in tests that is a bug.
      const internal = warnings.filter((w) =>
        /\b(beforeRouting|afterRouting|routingFailed|beforePush|beforeProcess|afterProcess|internal)\b/.test(w),
      );
      if (internal.length > 0) throw new Error(`internal errors in hooks: ${internal.join(' | ')}`);
      return flatten(mem.parsed());
    },
  };
}

export interface FlatSpan {
  name: string;
  kind: number | undefined;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  flags: number;
  status: { code?: number; message?: string } | undefined;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  start: bigint;
  end: bigint;
  service: unknown;
}

type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
};
type KV = { key: string; value: AnyValue };

/** Typed attribute values: intValue → bigint-free number, strings, bools, doubles, arrays. */
export function attrs(list: KV[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = typed(value);
  return out;
}

function typed(v: AnyValue): unknown {
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return { int: v.intValue };
  if ('doubleValue' in v) return { double: v.doubleValue };
  if ('arrayValue' in v) return (v.arrayValue?.values ?? []).map(typed);
  return null;
}

export function flatten(payloads: unknown[]): FlatSpan[] {
  const out: FlatSpan[] = [];
  type Payload = { resourceSpans: { resource: { attributes: KV[] }; scopeSpans: { spans: any[] }[] }[] };
  for (const p of payloads as Payload[]) {
    for (const rs of p.resourceSpans) {
      const service = attrs(rs.resource.attributes)['service.name'];
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          out.push({
            name: s.name,
            kind: s.kind,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId,
            flags: s.flags,
            status: s.status,
            attributes: attrs(s.attributes),
            events: (s.events ?? []).map((e: { name: string; attributes: KV[] }) => ({
              name: e.name,
              attributes: attrs(e.attributes),
            })),
            start: BigInt(s.startTimeUnixNano),
            end: BigInt(s.endTimeUnixNano),
            service,
          });
        }
      }
    }
  }
  return out;
}

export const KEY = { trace_id: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708', span_id: '9c7e5a3b1d0f2e4c' };
export const HEX = '3f2a1b4c5d6e4f8091a2b3c4d5e6f708';

export function dto(route: string, spanKey: unknown = KEY, data: unknown = {}) {
  return { route_key: route, span_key: spanKey as { trace_id: string; span_id: string }, data };
}
