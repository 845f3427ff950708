// OtlpBufferedTracingMiddleware: links each processing attempt of a queued entry to the span
// that received it, through the metadata EcoSystem persists with the entry (so it works
// across retries, the error queue and restarts). One CONSUMER span per attempt, matched to
// its afterProcess by the DTO object, so two endpoints processing one span_key never collide.
import { BufferedMiddlewareBase, type Metadata, type SpanKey } from './contract.js';
import { OpenSpans } from './open-spans.js';
import { SpanKind, FLAGS_LOCAL_PARENT } from '../trace/span.js';
import { canonicalUuid, parseSpanId } from '../trace/ids.js';
import { OtlpTracingMiddleware, finish, internal, startSpan } from './middleware.js';
import { checkReached, enterSpan } from '../api/active-span.js';

export const RECEIVE_SPAN_ID = 'otlp_receive_span_id';
export const ROUTE_KEY = 'otlp_route_key';

/** `<DTO class name>.process`, else `<route key>.process`, else `buffered.process`. */
function processName(dto: unknown, route: unknown): string {
  const type = typeof dto === 'object' && dto !== null ? Object.getPrototypeOf(dto)?.constructor?.name : undefined;
  // (a plain object's or an array's class says nothing)
  if (typeof type === 'string' && !/^(Object|Array)?$/.test(type)) return `${type}.process`;
  return `${(typeof route === 'string' && route) || 'buffered'}.process`;
}

export class OtlpBufferedTracingMiddleware extends BufferedMiddlewareBase {
  /** Process spans still open, one per attempt in progress. */
  declare readonly open: OpenSpans;
  declare readonly tracing: OtlpTracingMiddleware;

  constructor(tracing: OtlpTracingMiddleware) {
    super();
    this.tracing = tracing;
    if (!(tracing instanceof OtlpTracingMiddleware)) {
      throw new TypeError('OtlpBufferedTracingMiddleware needs the OtlpTracingMiddleware instance');
    }
    this.open = new OpenSpans(tracing.tracer, 'process attempts', 'afterProcess');
  }

  /** Persists the receive span's id and route key with the queued entry; {} when none is active. */
  override async beforePush(spanKey: SpanKey): Promise<Metadata> {
    const span = this.tracing.tracer.active ? this.tracing.getActiveSpan(spanKey) : undefined;
    return span ? { [RECEIVE_SPAN_ID]: span.spanId, [ROUTE_KEY]: span.name } : {};
  }

  override async beforeProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, retries: number): Promise<void> {
    const t = this.tracing.tracer;
    if (!t.active) return;
    try {
      const route = metadata?.[ROUTE_KEY];
      const span = startSpan(t, processName(dto, route), SpanKind.CONSUMER, spanKey, true);
      // the endpoint's function runs in the rest of the worker's call: currentSpan() finds the span there
      enterSpan(t, span);
      if (!span) return;
      // Parent: the receive span (a local span of this service, possibly from before a restart;
      // the Python tracer stored it as an integer), else the caller's span (remote). Not across
      // traces: an unusable span_key trace id gave this span a fresh one.
      const receive = parseSpanId(metadata?.[RECEIVE_SPAN_ID]);
      if (receive !== null && canonicalUuid(spanKey?.trace_id) !== null) {
        span.parentSpanId = receive;
        span.flags = FLAGS_LOCAL_PARENT;
      }
      const attrs = (span.attrs = span.keyAttributes());
      if (typeof route === 'string' && route) attrs.push('request.route_key', route);
      // a retries count as an int; a numeric string is taken, anything else left out
      const r = typeof retries === 'string' && (retries as string).trim() ? Number(retries) : retries;
      if (Number.isFinite(r)) attrs.push('request.retries', Math.trunc(r));
      this.open.add(dto, span);
    } catch (err) {
      internal(t, 'beforeProcess', err);
    }
  }

  override async afterProcess(spanKey: SpanKey, dto: unknown, _metadata: Metadata, success: boolean): Promise<void> {
    const t = this.tracing.tracer;
    if (!t.active) return;
    try {
      const span = this.open.take(dto, spanKey);
      if (!span) return;
      checkReached(t, span);
      span.attrs!.push('process.success', success === true);
      finish(t, span, success === true ? undefined : 'process attempt failed');
    } catch (err) {
      internal(t, 'afterProcess', err);
    }
  }
}
