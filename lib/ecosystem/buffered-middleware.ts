// OtlpBufferedTracingMiddleware: links each processing attempt of a queued entry to the span
// that received it, through the metadata EcoSystem persists with the entry (so it works
// across retries, the error queue and restarts). One CONSUMER span per attempt, matched to
// its afterProcess by the DTO object (or, for a payload that is no object, the entry's
// metadata object), so two endpoints processing one span_key never collide.
import { BufferedMiddlewareBase, type Metadata, type SpanKey } from './contract.js';
import type { OpenSpans } from './open-spans.js';
import { SpanKind, FLAGS_LOCAL_PARENT } from '../trace/span.js';
import { canonicalUuid, parseSpanId } from '../trace/ids.js';
import { OtlpTracingMiddleware } from './middleware.js';
import { finish, openSpanTable, reportHookError, startSpan } from './request-span.js';
import { checkReached, enterSpan } from './handler-context.js';

export const RECEIVE_SPAN_ID = 'otlp_receive_span_id';
export const ROUTE_KEY = 'otlp_route_key';
/** The receive span's trace (a UUID), stored only when the span_key's trace_id was unusable. */
export const TRACE_ID = 'otlp_trace_id';

/** `<DTO class name>.process`, else `<route key>.process`, else `buffered.process`. */
function processName(dto: unknown, route: unknown): string {
  const type = typeof dto === 'object' && dto !== null ? Object.getPrototypeOf(dto)?.constructor?.name : undefined;
  // (a plain object's or an array's class says nothing)
  if (typeof type === 'string' && !/^(Object|Array)?$/.test(type)) return `${type}.process`;
  return `${(typeof route === 'string' && route) || 'buffered'}.process`;
}

/**
 * What an attempt's span is filed under: the DTO object, else the entry's metadata object (the
 * same object reaches beforeProcess and afterProcess of one attempt), else nothing (a token).
 */
function attemptKey(dto: unknown, metadata: unknown): unknown {
  return typeof dto === 'object' && dto !== null ? dto : metadata;
}

export class OtlpBufferedTracingMiddleware extends BufferedMiddlewareBase {
  /** Process spans still open, one per attempt in progress. */
  readonly open: OpenSpans;
  readonly tracing: OtlpTracingMiddleware;

  constructor(tracing: OtlpTracingMiddleware) {
    super();
    this.tracing = tracing;
    if (!(tracing instanceof OtlpTracingMiddleware)) {
      throw new TypeError('OtlpBufferedTracingMiddleware needs the OtlpTracingMiddleware instance');
    }
    this.open = openSpanTable(tracing.tracer, 'process attempts', 'afterProcess');
  }

  /**
   * Persists the receive span's id and route key with the queued entry (and its trace, when the
   * span_key's trace_id was unusable, so attempts join it); {} when none is active.
   */
  override async beforePush(spanKey: SpanKey, _dto?: unknown): Promise<Metadata> {
    const tracer = this.tracing.tracer;
    if (!tracer.active) return {};
    try {
      const span = this.tracing.open.find(spanKey);
      if (!span) return {};
      const metadata: Metadata = { [RECEIVE_SPAN_ID]: span.spanId, [ROUTE_KEY]: span.name };
      // (the string comparison settles the usual case; only a differing form is checked)
      const trace = span.traceUuid;
      if (spanKey?.trace_id !== trace && canonicalUuid(spanKey?.trace_id) !== trace) metadata[TRACE_ID] = trace;
      return metadata;
    } catch (err) {
      reportHookError(tracer, 'beforePush', err);
      return {};
    }
  }

  override async beforeProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, retries: number): Promise<void> {
    const tracer = this.tracing.tracer;
    if (!tracer.active) return;
    try {
      const route = metadata?.[ROUTE_KEY];
      // An unusable span_key trace_id: the trace its receive span was given, when stored.
      const keyTrace = canonicalUuid(spanKey?.trace_id);
      const storedTrace = keyTrace === null ? canonicalUuid(metadata?.[TRACE_ID]) : null;
      const traceKey = storedTrace === null ? spanKey : { trace_id: storedTrace, span_id: undefined };
      const span = startSpan(tracer, processName(dto, route), SpanKind.CONSUMER, traceKey, true);
      // the endpoint's function runs in the rest of the worker's call: currentSpan() finds the span there
      enterSpan(tracer, span);
      if (!span) return;
      span.spanKey = spanKey;
      // Parent: the receive span (a local span of this service, possibly from before a restart;
      // the Python tracer stored it as an integer), else the caller's span (remote). Not across
      // traces: an unusable span_key trace id with no stored one gave this span a fresh trace.
      const receive = parseSpanId(metadata?.[RECEIVE_SPAN_ID]);
      if (receive !== null && (keyTrace !== null || storedTrace !== null)) {
        span.parentSpanId = receive;
        span.flags = FLAGS_LOCAL_PARENT;
      }
      const attrs = span.keyAttributes();
      span.attrs = attrs;
      if (typeof route === 'string' && route) attrs.push('request.route_key', route);
      // a retries count as an int; a numeric string is taken, anything else left out
      const count = typeof retries === 'string' && (retries as string).trim() ? Number(retries) : retries;
      if (Number.isFinite(count)) attrs.push('request.retries', Math.trunc(count));
      this.open.add(attemptKey(dto, metadata), span);
    } catch (err) {
      reportHookError(tracer, 'beforeProcess', err);
    }
  }

  override async afterProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, success: boolean): Promise<void> {
    const tracer = this.tracing.tracer;
    if (!tracer.active) return;
    try {
      const span = this.open.take(attemptKey(dto, metadata), spanKey);
      if (!span) return;
      checkReached(tracer, span);
      span.attrs!.push('process.success', success === true);
      finish(tracer, span, success === true ? undefined : 'process attempt failed');
    } catch (err) {
      reportHookError(tracer, 'afterProcess', err);
    }
  }
}
