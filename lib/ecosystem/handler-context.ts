// The seam between the middlewares and the handler span API (lib/api, the "./handler" entry).
// The middlewares call these functions on every request; they do nothing until lib/api is
// imported, which installs its context here. So a service that never imports the handler entry
// neither loads nor bundles the span API (about 1.3 KiB min+gzip of the main entry) and pays one
// call per hook. The handlerSpans option of every active tracer is kept (two booleans), so an API
// imported after the middleware was made still knows it.
import type { Span } from '../trace/span.js';
import type { Tracer } from '../trace/tracer.js';
import type { SpanKey } from './contract.js';

/** What lib/api/active-span.ts installs. */
export interface HandlerContext {
  /** An active tracer was made; handlerSpans is its option (false: never, true: from the start). */
  registerTracer(handlerSpans: boolean | undefined): void;
  /** Enters the context of a request or process span (undefined: of no span, unsampled). */
  enterSpan(tracer: Tracer, span: Span | undefined): void;
  /** From the after-hook: says once per tracer when the handler could not see `span`. */
  checkReached(tracer: Tracer, span: Span): void;
  /** The current span's span_key, when `tracer` records it. */
  currentSpanKey(tracer: Tracer): SpanKey | undefined;
}

let installed: HandlerContext | undefined;
/** Some active tracer allows handler spans (handlerSpans not false) / wants them from the start. */
let allowed = false;
let eager = false;

/** Called once, when lib/api is first imported. */
export function installHandlerContext(context: HandlerContext): void {
  installed = context;
  if (allowed) context.registerTracer(eager ? true : undefined);
}

export function registerTracer(handlerSpans: boolean | undefined): void {
  if (handlerSpans === false) return;
  allowed = true;
  if (handlerSpans) eager = true;
  installed?.registerTracer(handlerSpans);
}

export function enterSpan(tracer: Tracer, span: Span | undefined): void {
  installed?.enterSpan(tracer, span);
}

export function checkReached(tracer: Tracer, span: Span): void {
  installed?.checkReached(tracer, span);
}

/** Undefined when the handler entry was never imported: nothing can be current then. */
export function currentSpanKey(tracer: Tracer): SpanKey | undefined {
  return installed?.currentSpanKey(tracer);
}
