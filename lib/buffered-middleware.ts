// OtlpBufferedTracingMiddleware: links each processing attempt of a queued entry to the span
// that received it, through the metadata EcoSystem persists with the entry (so it works
// across retries, the error queue and restarts). One CONSUMER span per attempt, matched to
// its afterProcess by the DTO object, so two endpoints processing one span_key never collide.
import { BufferedMiddlewareBase, type Metadata, type SpanKey } from './contract.js';
import { OpenSpans } from './open-spans.js';
import { Span, SpanKind, StatusCode, FLAGS_LOCAL_PARENT, FLAGS_REMOTE_PARENT } from './span.js';
import { parseSpanId } from './ids.js';
import { OtlpTracingMiddleware, keyUuid, parseKey, requestAttributes } from './middleware.js';

export const RECEIVE_SPAN_ID = 'otlp_receive_span_id';
export const ROUTE_KEY = 'otlp_route_key';

/** `<DTO class name>.process`, else `<route key>.process`, else `buffered.process`. */
function processName(dto: unknown, route: unknown): string {
  if (dto !== null && typeof dto === 'object') {
    const proto = Object.getPrototypeOf(dto) as { constructor?: { name?: unknown } } | null;
    const name = proto !== null && proto !== Object.prototype ? proto.constructor?.name : undefined;
    if (typeof name === 'string' && name !== '' && name !== 'Object' && name !== 'Array') return `${name}.process`;
  }
  return typeof route === 'string' && route !== '' ? `${route}.process` : 'buffered.process';
}

function field(metadata: unknown, key: string): unknown {
  return metadata !== null && typeof metadata === 'object' ? (metadata as Metadata)[key] : undefined;
}

/** A retries count as an int, or undefined when the host passed something unusable. */
function retriesValue(retries: unknown): number | undefined {
  const n = typeof retries === 'string' && retries.trim() !== '' ? Number(retries) : retries;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : undefined;
}

export class OtlpBufferedTracingMiddleware extends BufferedMiddlewareBase {
  /** Process spans still open, one per attempt in progress. */
  readonly open: OpenSpans;

  constructor(readonly tracing: OtlpTracingMiddleware) {
    super();
    if (!(tracing instanceof OtlpTracingMiddleware)) {
      throw new TypeError('OtlpBufferedTracingMiddleware needs the OtlpTracingMiddleware instance it links to');
    }
    this.open = new OpenSpans(tracing.tracer.config.maxOpenSpans);
    tracing.tracer.watch(this.open, 'afterProcess');
  }

  /** Persists the receive span's id and route key with the queued entry; {} when none is active. */
  override async beforePush(spanKey: SpanKey, _dto: unknown): Promise<Metadata> {
    if (!this.tracing.tracer.active) return {};
    const span = this.tracing.getActiveSpan(spanKey);
    return span === undefined ? {} : { [RECEIVE_SPAN_ID]: span.spanId, [ROUTE_KEY]: span.name };
  }

  override async beforeProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, retries: number): Promise<void> {
    const t = this.tracing.tracer;
    if (!t.active) return;
    try {
      const k = parseKey(spanKey, t.ids.traceId);
      if (!t.sampled(k.uuid)) return;
      // Parent: the receive span (a local span of this service, possibly from before a restart;
      // the Python tracer stored it as an integer), else the caller's span (remote).
      const receive = k.fresh ? null : parseSpanId(field(metadata, RECEIVE_SPAN_ID));
      const parent = receive ?? k.callerId;
      const route = field(metadata, ROUTE_KEY);
      const attrs = requestAttributes(k);
      if (typeof route === 'string' && route !== '') attrs.push('request.route_key', route);
      const r = retriesValue(retries);
      if (r !== undefined) attrs.push('request.retries', r);
      const span = new Span(
        processName(dto, route),
        SpanKind.CONSUMER,
        k.uuid,
        t.ids.spanId(),
        parent,
        receive !== null || parent === '' ? FLAGS_LOCAL_PARENT : FLAGS_REMOTE_PARENT,
        t.clock.now(),
        attrs,
      );
      span.callerId = k.callerId;
      const evicted = this.open.add(dto, span);
      if (evicted !== undefined) {
        t.fail(evicted, `more than ${t.config.maxOpenSpans} process attempts open at once; oldest span ended early`);
      }
    } catch (err) {
      t.diagnostics.warn('internal', `beforeProcess: ${String(err)}`);
    }
  }

  override async afterProcess(spanKey: SpanKey, dto: unknown, _metadata: Metadata, success: boolean): Promise<void> {
    const t = this.tracing.tracer;
    if (!t.active) return;
    try {
      let span = this.open.takeByKey(dto);
      if (span === undefined) {
        const uuid = keyUuid(spanKey);
        if (uuid !== null) span = this.open.takeOldest(uuid, parseSpanId(spanKey.span_id) ?? '');
      }
      if (span === undefined) return;
      const ok = success === true;
      span.setAttribute('process.success', ok);
      if (ok) {
        span.statusCode = StatusCode.OK;
        t.end(span);
      } else {
        t.fail(span, 'process attempt failed');
      }
    } catch (err) {
      t.diagnostics.warn('internal', `afterProcess: ${String(err)}`);
    }
  }
}
