// OtlpTracingMiddleware: one SERVER span per request, opened in beforeRouting and closed in
// afterRouting (OK), routingFailed (ERROR + exception event) or the timeout sweep (ERROR).
// The request path only reads the span_key, builds one Span and files it in the open-span
// table; no encoding, no I/O. Every hook catches everything: tracing never breaks a request.
import { MiddlewareBase, type AfterRoutingArgs, type BeforeRoutingArgs, type RequestDTO, type RoutingFailedArgs, type SpanKey } from './contract.js';
import { resolveConfig, type OtlpTracingOptions, type ResolvedConfig } from './config.js';
import { Tracer } from './tracer.js';
import { OpenSpans } from './open-spans.js';
import { Span, SpanKind, StatusCode, FLAGS_LOCAL_PARENT, FLAGS_REMOTE_PARENT } from './span.js';
import { canonicalUuid, parseSpanId, uuidFromTraceId } from './ids.js';
import type { ExportStats } from './batcher.js';

/** The span_key of a request, read without trusting its shape. */
export interface ParsedKey {
  /**
   * The trace id as a canonical UUID: the span_key's own string when it already is one (no copy,
   * no hex conversion on the request path); a fresh random id when the span_key's was unusable.
   */
  uuid: string;
  /** The caller's span id (16 hex), or '' when unusable. */
  callerId: string;
  invalid: boolean;
  /** The trace id was generated here, the span_key's being unusable. */
  fresh: boolean;
}

/** The request's trace id as a canonical UUID if its span_key has a usable one, else null. Never throws. */
export function keyUuid(spanKey: unknown): string | null {
  if (spanKey === null || typeof spanKey !== 'object') return null;
  return canonicalUuid((spanKey as SpanKey).trace_id);
}

/** Reads a span_key; an unusable trace id gets a fresh random one and `invalid`. */
export function parseKey(spanKey: unknown, freshTraceId: () => string): ParsedKey {
  let raw: unknown;
  let rawSpan: unknown;
  if (spanKey !== null && typeof spanKey === 'object') {
    raw = (spanKey as SpanKey).trace_id;
    rawSpan = (spanKey as SpanKey).span_id;
  }
  const uuid = canonicalUuid(raw);
  if (uuid === null) return { uuid: uuidFromTraceId(freshTraceId()), callerId: '', invalid: true, fresh: true };
  const callerId = parseSpanId(rawSpan) ?? '';
  return { uuid, callerId, invalid: callerId === '', fresh: false };
}

/** Attributes every span of a request carries, then `request.route_key` when given. */
export function requestAttributes(k: ParsedKey, route?: string): unknown[] {
  const attrs: unknown[] = ['request.trace_id', k.uuid];
  if (k.callerId !== '') attrs.push('request.span_id', k.callerId);
  if (k.invalid) attrs.push('request.span_key_invalid', true);
  if (route !== undefined) attrs.push('request.route_key', route);
  return attrs;
}

function routeName(dto: unknown): string {
  const r = dto !== null && typeof dto === 'object' ? (dto as RequestDTO).route_key : undefined;
  return typeof r === 'string' && r !== '' ? r : 'unknown_route';
}

export class OtlpTracingMiddleware extends MiddlewareBase {
  readonly tracer: Tracer;
  /** Receive spans still open, for afterRouting, beforePush and outgoingSpanKey. */
  readonly open: OpenSpans;

  /** @param resolved internal: configuration already resolved by initiateOtlpTracing. */
  constructor(options?: OtlpTracingOptions, resolved?: ResolvedConfig) {
    super();
    this.tracer = new Tracer(resolved ?? resolveConfig(options));
    this.open = new OpenSpans(this.tracer.config.maxOpenSpans);
    this.tracer.watch(this.open, 'afterRouting or routingFailed');
  }

  override async beforeRouting(args: BeforeRoutingArgs): Promise<RequestDTO> {
    const dto = args?.protocolDto;
    if (this.tracer.active) {
      try {
        this.startRequest(dto);
      } catch (err) {
        this.tracer.diagnostics.warn('internal', `beforeRouting: ${String(err)}`);
      }
    }
    return dto;
  }

  private startRequest(dto: RequestDTO | undefined): void {
    const t = this.tracer;
    const key = dto !== null && typeof dto === 'object' ? dto.span_key : undefined;
    if (t.lazyKeys && key !== null && typeof key === 'object') {
      // Checking the span_key's two strings is left to the exporter (Span.resolve): the usual
      // request pays for reading two fields, not for 52 characters checked one by one.
      const span = new Span(routeName(dto), SpanKind.SERVER, '', '', '', FLAGS_REMOTE_PARENT, t.clock.now(), null);
      span.rawTrace = key.trace_id;
      span.rawSpan = key.span_id;
      span.unchecked = true;
      return this.track(dto, span);
    }
    // Checked now: a sampler or a user id generator needs the trace id at start.
    const k = parseKey(key, t.ids.traceId);
    if (!t.sampled(k.uuid)) return;
    const route = routeName(dto);
    const span = new Span(
      route,
      SpanKind.SERVER,
      k.uuid,
      t.ids.spanId(),
      k.callerId,
      k.callerId === '' ? FLAGS_LOCAL_PARENT : FLAGS_REMOTE_PARENT,
      t.clock.now(),
      // A valid span_key: the three request attributes are the span's own fields (attrs null).
      k.invalid ? requestAttributes(k, route) : null,
    );
    span.callerId = k.callerId;
    this.track(dto, span);
  }

  private track(dto: unknown, span: Span): void {
    const evicted = this.open.add(dto, span);
    if (evicted !== undefined) this.evict(evicted);
  }

  private evict(span: Span): void {
    this.tracer.fail(span, `more than ${this.tracer.config.maxOpenSpans} requests open at once; oldest span ended early`);
    this.tracer.diagnostics.warn('open-span-cap', `open-span table full (${this.tracer.config.maxOpenSpans}); ending the oldest spans as ERROR`);
  }

  /** The open span of this DTO object, else the oldest open one with the same span_key. */
  private take(dto: unknown): Span | undefined {
    const byKey = this.open.takeByKey(dto);
    if (byKey !== undefined || dto === null || typeof dto !== 'object') return byKey;
    const key = (dto as RequestDTO).span_key;
    const uuid = keyUuid(key);
    if (uuid === null) return undefined;
    return this.open.takeOldest(uuid, parseSpanId((key as SpanKey).span_id) ?? '');
  }

  override async afterRouting(args: AfterRoutingArgs): Promise<unknown> {
    const response = args?.responseDto;
    if (this.tracer.active) {
      try {
        const span = this.take(args?.protocolDto);
        if (span !== undefined) {
          span.statusCode = StatusCode.OK;
          this.tracer.end(span);
        }
      } catch (err) {
        this.tracer.diagnostics.warn('internal', `afterRouting: ${String(err)}`);
      }
    }
    return response;
  }

  override async routingFailed(args: RoutingFailedArgs): Promise<void> {
    if (!this.tracer.active) return;
    try {
      const span = this.take(args?.protocolDto);
      if (span !== undefined) this.tracer.fail(span, errorMessage(args?.error), args?.error ?? 'unknown error');
    } catch (err) {
      this.tracer.diagnostics.warn('internal', `routingFailed: ${String(err)}`);
    }
  }

  /** The newest open receive span for this span_key (the request being handled now). */
  getActiveSpan(spanKey: SpanKey): Span | undefined {
    try {
      // (the index resolves every span it holds)
      const uuid = keyUuid(spanKey);
      return uuid === null ? undefined : this.open.find(uuid, parseSpanId(spanKey.span_id) ?? '');
    } catch {
      return undefined;
    }
  }

  /**
   * The span_key to forward downstream: same trace, span_id = this service's active span, so the
   * next hop's span becomes its child and a chain of services shows as a tree. Without an
   * active span, the span_key unchanged.
   */
  outgoingSpanKey(spanKey: SpanKey): SpanKey {
    const span = this.getActiveSpan(spanKey);
    if (span === undefined) return spanKey;
    return { trace_id: span.traceUuid, span_id: span.spanId };
  }

  forceFlush(): Promise<void> {
    return this.tracer.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.tracer.shutdown();
  }

  stats(): ExportStats {
    return this.tracer.stats();
  }
}

/** A one-line status message from anything thrown. */
export function errorMessage(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name || 'Error'}: ${error.message}`;
    return `handler failed: ${typeof error === 'string' ? error : String(error)}`;
  } catch {
    return 'handler failed';
  }
}
