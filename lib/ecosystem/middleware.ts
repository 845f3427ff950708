// OtlpTracingMiddleware: one SERVER span per request, opened in beforeRouting and closed in
// afterRouting (OK), routingFailed (ERROR + exception event) or the timeout sweep (ERROR).
// The request path only reads the span_key, builds one Span and files it in the open-span
// table; no encoding, no I/O. Every hook catches everything: tracing never breaks a request.
import { MiddlewareBase, type AfterRoutingArgs, type BeforeRoutingArgs, type RequestDTO, type RoutingFailedArgs, type SpanKey } from './contract.js';
import { resolveConfig, type OtlpTracingOptions, type ResolvedConfig } from '../config/config.js';
import { Tracer } from '../trace/tracer.js';
import { OpenSpans } from './open-spans.js';
import { Span, SpanKind, StatusCode, FLAGS_REMOTE_PARENT } from '../trace/span.js';
import type { ExportStats } from '../export/batcher.js';
import { checkReached, currentSpanKey, enterSpan, registerTracer } from '../api/active-span.js';

/** A hook's own failure, reported (as kind `internal`), never passed on to the host. */
export function internal(t: Tracer, hook: string, err: unknown): void {
  t.diagnostics.warn('internal', `${hook}: ${String(err)}`);
}

/**
 * A new span for a request's span_key, or undefined when its trace is not sampled. The
 * span_key's two fields are copied unchecked, and checked by the exporter (Span.resolve): the
 * usual request pays for reading two fields, not for 52 characters checked one by one. Unless
 * `checkNow`: a sampler or a user id generator needs the trace id at start.
 */
export function startSpan(t: Tracer, name: string, kind: number, spanKey: unknown, checkNow: boolean): Span | undefined {
  const span = new Span(name, kind, '', '', '', FLAGS_REMOTE_PARENT, 0, null);
  span.rawTrace = (spanKey as SpanKey | undefined)?.trace_id;
  span.rawSpan = (spanKey as SpanKey | undefined)?.span_id;
  if (checkNow) {
    span.resolve(t.ids.traceId);
    if (!t.sampled(span.tid)) return;
    span.sid = t.ids.spanId();
  }
  span.start = t.clock.now();
  return span;
}

/** Ends a span: OK, or ERROR with `failure` as its status message (and an exception event for `error`). */
export function finish(t: Tracer, span: Span, failure?: string, error?: unknown): void {
  if (failure === undefined) {
    // an ERROR (or OK) the handler set through currentSpan() stays
    if (span.statusCode === StatusCode.UNSET) span.statusCode = StatusCode.OK;
    t.end(span);
  } else {
    t.fail(span, failure, error);
  }
}

export class OtlpTracingMiddleware extends MiddlewareBase {
  // (declared, not class fields: set once by the constructor)
  declare readonly tracer: Tracer;
  /** Receive spans still open, for afterRouting, beforePush and outgoingSpanKey. */
  declare readonly open: OpenSpans;

  /** @param resolved internal: configuration already resolved by initiateOtlpTracing. */
  constructor(options?: OtlpTracingOptions, resolved?: ResolvedConfig) {
    super();
    this.tracer = new Tracer(resolved ?? resolveConfig(options));
    this.open = new OpenSpans(this.tracer, 'requests', 'afterRouting or routingFailed');
    if (this.tracer.active) registerTracer(this.tracer.config.handlerSpans);
  }

  override async beforeRouting(args: BeforeRoutingArgs): Promise<RequestDTO> {
    const dto = args?.protocolDto;
    const t = this.tracer;
    if (t.active) {
      try {
        const route = dto?.route_key;
        const span = startSpan(t, (typeof route === 'string' && route) || 'unknown_route', SpanKind.SERVER, dto?.span_key, !t.lazyKeys);
        if (span) this.open.add(dto, span);
        // the handler runs in the rest of the host's call: currentSpan() finds the span there
        enterSpan(t, span);
      } catch (err) {
        internal(t, 'beforeRouting', err);
      }
    }
    return dto;
  }

  /** Ends the open span of the DTO object, else the oldest open one with the same span_key. */
  #end(args: AfterRoutingArgs | RoutingFailedArgs | undefined, hook: string, failed: boolean): void {
    const t = this.tracer;
    if (!t.active) return;
    try {
      const dto = args?.protocolDto;
      const span = this.open.take(dto, dto?.span_key);
      const error = (args as RoutingFailedArgs | undefined)?.error;
      if (!span) return;
      checkReached(t, span);
      finish(t, span, failed ? errorMessage(error) : undefined, error ?? 'unknown error');
    } catch (err) {
      internal(t, hook, err);
    }
  }

  override async afterRouting(args: AfterRoutingArgs): Promise<unknown> {
    this.#end(args, 'afterRouting', false);
    return args?.responseDto;
  }

  override async routingFailed(args: RoutingFailedArgs): Promise<void> {
    this.#end(args, 'routingFailed', true);
  }

  /** The newest open receive span for this span_key (the request being handled now). */
  getActiveSpan(spanKey: SpanKey): Span | undefined {
    try {
      return this.open.find(spanKey);
    } catch {
      return undefined;
    }
  }

  /**
   * The span_key to forward downstream: same trace, span_id = this service's active span, so the
   * next hop's span becomes its child and a chain of services shows as a tree. Without an
   * active span, the span_key unchanged. Without arguments, inside a handler: the current span's
   * (a withSpan child's inside withSpan), else undefined (the caller makes a fresh span_key).
   */
  outgoingSpanKey(spanKey: SpanKey): SpanKey;
  outgoingSpanKey(): SpanKey | undefined;
  outgoingSpanKey(spanKey?: SpanKey): SpanKey | undefined {
    if (arguments.length === 0) return currentSpanKey(this.tracer);
    const span = this.getActiveSpan(spanKey!);
    return span ? { trace_id: span.traceUuid, span_id: span.spanId } : spanKey;
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
function errorMessage(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name || 'Error'}: ${error.message}` : `handler failed: ${String(error)}`;
  } catch {
    return 'handler failed';
  }
}
