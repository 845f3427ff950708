// OtlpTracingMiddleware: one SERVER span per request, opened in beforeRouting and closed in
// afterRouting (OK), routingFailed (ERROR + exception event) or the timeout sweep (ERROR).
// The request path only reads the span_key, builds one Span and files it in the open-span
// table; no encoding, no I/O. Every hook catches everything: tracing never breaks a request.
import {
  MiddlewareBase,
  type AfterRoutingArgs,
  type BeforeRoutingArgs,
  type RequestDTO,
  type RoutingFailedArgs,
  type SpanKey,
} from './contract.js';
import { ConfigError, resolveConfig, type SetupOptions } from '../config/config.js';
import { Tracer } from '../trace/tracer.js';
import type { OpenSpans } from './open-spans.js';
import { SpanKind, type ReadableSpan, type Span } from '../trace/span.js';
import type { ExportStats } from '../export/batcher.js';
import { finish, openSpanTable, reportHookError, startSpan } from './request-span.js';
import { errorText } from '../util/text.js';
import { checkReached, currentSpanKey, enterSpan, registerTracer } from './handler-context.js';

/** Options of initiateOtlpTracing that a middleware built by hand has no use for. */
const SETUP_ONLY = ['middlewareManager', 'bufferedMiddlewareManager'];

export class OtlpTracingMiddleware extends MiddlewareBase {
  readonly tracer: Tracer;
  /** Receive spans still open, for afterRouting, beforePush and outgoingSpanKey. */
  readonly open: OpenSpans;

  /** Every option of initiateOtlpTracing but the two managers (this middleware does not register itself). */
  constructor(options?: SetupOptions) {
    super();
    for (const name of SETUP_ONLY) {
      if ((options as Record<string, unknown> | undefined)?.[name] !== undefined) {
        const why = 'add the middleware to your manager yourself';
        throw new ConfigError(`option ${name} is for initiateOtlpTracing only: ${why}`);
      }
    }
    this.tracer = new Tracer(resolveConfig(options));
    this.open = openSpanTable(this.tracer, 'requests', 'afterRouting or routingFailed');
    if (this.tracer.active) registerTracer(this.tracer.config.handlerSpans);
  }

  override async beforeRouting(args: BeforeRoutingArgs): Promise<RequestDTO> {
    const dto = args?.protocolDto;
    const tracer = this.tracer;
    if (tracer.active) {
      try {
        const route = dto?.route_key;
        const name = (typeof route === 'string' && route) || 'unknown_route';
        const span = startSpan(tracer, name, SpanKind.SERVER, dto?.span_key, !tracer.lazyKeys);
        if (span) this.open.add(dto, span);
        // the handler runs in the rest of the host's call: currentSpan() finds the span there
        enterSpan(tracer, span);
      } catch (err) {
        reportHookError(tracer, 'beforeRouting', err);
      }
    }
    return dto;
  }

  /** Ends the open span of the DTO object, else the one started with its span_key (OpenSpans.take). */
  #end(args: AfterRoutingArgs | RoutingFailedArgs | undefined, hook: string, failed: boolean): void {
    const tracer = this.tracer;
    if (!tracer.active) return;
    try {
      const dto = args?.protocolDto;
      const span = this.open.take(dto, dto?.span_key);
      const error = (args as RoutingFailedArgs | undefined)?.error;
      if (!span) return;
      checkReached(tracer, span);
      finish(tracer, span, failed ? errorMessage(error) : undefined, error ?? 'unknown error');
    } catch (err) {
      reportHookError(tracer, hook, err);
    }
  }

  override async afterRouting(args: AfterRoutingArgs): Promise<unknown> {
    this.#end(args, 'afterRouting', false);
    return args?.responseDto;
  }

  override async routingFailed(args: RoutingFailedArgs): Promise<void> {
    this.#end(args, 'routingFailed', true);
  }

  /**
   * The open receive span of the request this span_key came with (the same object, when the
   * span_key is unusable), else the newest open one of its span_key.
   */
  getActiveSpan(spanKey: SpanKey): ReadableSpan | undefined {
    return this.#active(spanKey);
  }

  #active(spanKey: SpanKey): Span | undefined {
    try {
      return this.open.find(spanKey);
    } catch {
      return undefined;
    }
  }

  /**
   * The span_key to forward downstream: the trace this service's active span is in (a fresh one
   * when the span_key's was unusable), span_id = that span, so the next hop's span becomes its
   * child and a chain of services shows as one tree. Without an active span, the span_key unchanged.
   * Without arguments, inside a handler: the current span's (a withSpan child's inside withSpan),
   * else undefined (the caller makes a fresh span_key).
   */
  outgoingSpanKey(spanKey: SpanKey): SpanKey;
  outgoingSpanKey(): SpanKey | undefined;
  outgoingSpanKey(spanKey?: SpanKey): SpanKey | undefined {
    if (arguments.length === 0) return currentSpanKey(this.tracer);
    const span = this.#active(spanKey!);
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

/** A one-line status message from anything thrown: "Name: message" for an Error, else "handler failed: value". */
function errorMessage(error: unknown): string {
  return error instanceof Error ? errorText(error) : `handler failed: ${errorText(error)}`;
}
