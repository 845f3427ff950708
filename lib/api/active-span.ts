// The span API for handler code: currentSpan() is the span of the request or process attempt
// being handled, withSpan() opens a child of it. The hooks cannot wrap the handler (the host
// calls beforeRouting, the handler and afterRouting one after the other), so beforeRouting and
// beforeProcess *enter* the span's context for the rest of the host's call, which the handler
// is part of; the span's end is what closes it (an ended span's handle is a no-op).
//
// Handler code never needs an if: outside a request, when tracing is off or the trace is not
// sampled, it gets NOOP_SPAN, whose methods do nothing. Nothing here throws into the handler.
//
// Cost: on Node 20 and 22 an AsyncLocalStorage in use makes every promise of the process carry
// the context (npm run bench -- --only span-api, Node 20: a request with an empty async handler
// 1185 ns with it off, 3186 ns with it on, medians of 5). So the hooks
// enter nothing until it is wanted: from the start with the option handlerSpans: true, else from
// the first call of currentSpan(), withSpan() or outgoingSpanKey() on (the requests in flight
// at that moment keep the no-op span); handlerSpans: false, never.
import { makeContextSlot } from '../platform/node/index.js';
import { Span, SpanKind, StatusCode, FLAGS_LOCAL_PARENT, exceptionAttributes } from '../trace/span.js';
import type { AttributeValue } from '../trace/span.js';
import type { Tracer } from '../trace/tracer.js';
import type { SpanKey } from '../ecosystem/contract.js';
import { installHandlerContext } from '../ecosystem/handler-context.js';
import { errorText } from '../util/text.js';

export type Attributes = Readonly<Record<string, AttributeValue>>;
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

/** What handler code can do with a span. Every method returns the span, for chaining. */
export interface ActiveSpan {
  /** False for the no-op span and once the span has ended: then every method does nothing. */
  readonly isRecording: boolean;
  /** Sets (or replaces) one attribute. */
  setAttribute(key: string, value: AttributeValue): ActiveSpan;
  setAttributes(attributes: Attributes): ActiveSpan;
  /** A timestamped event, with attributes. */
  addEvent(name: string, attributes?: Attributes): ActiveSpan;
  /** An `exception` event (exception.type, .message, .stacktrace); the status is left as it is. */
  recordException(error: unknown): ActiveSpan;
  /** The span's status; ERROR set by the handler stays ERROR when the request ends normally. */
  setStatus(status: { code: StatusCodeValue; message?: string }): ActiveSpan;
  /** The span_key to forward downstream so the next hop's spans become children of this span. */
  spanKey(): SpanKey | undefined;
}

export interface WithSpanOptions {
  /** 'internal' (default) for work inside this service, 'client' for an outgoing call. */
  kind?: 'internal' | 'client';
  /** Attributes set at start. */
  attributes?: Attributes;
}

const KINDS = { internal: SpanKind.INTERNAL, client: SpanKind.CLIENT } as const;

/** A span with the tracer that exports it: the context's value, and what currentSpan() returns. */
class SpanHandle implements ActiveSpan {
  readonly span: Span;
  readonly tracer: Tracer;

  constructor(span: Span, tracer: Tracer) {
    this.span = span;
    this.tracer = tracer;
  }

  get isRecording(): boolean {
    return this.span.end === -1 && this.tracer.active;
  }

  setAttribute(key: string, value: AttributeValue): ActiveSpan {
    if (this.isRecording && typeof key === 'string' && isAttributeValue(value)) {
      try {
        // a request span keeps its standard attributes as fields until something is added
        const attrs = (this.span.attrs ??= this.span.flatAttributes());
        let i = 0;
        while (i < attrs.length && attrs[i] !== key) i += 2;
        attrs[i] = key;
        attrs[i + 1] = value;
      } catch (err) {
        this.tracer.diagnostics.warn('internal', `setAttribute: ${errorText(err)}`);
      }
    }
    return this;
  }

  setAttributes(attributes: Attributes): ActiveSpan {
    if (this.isRecording && typeof attributes === 'object' && attributes !== null) {
      for (const key of Object.keys(attributes)) this.setAttribute(key, attributes[key]!);
    }
    return this;
  }

  addEvent(name: string, attributes?: Attributes): ActiveSpan {
    if (this.isRecording) this.span.addEvent(String(name), this.tracer.clock.now(), flatAttributes(attributes));
    return this;
  }

  recordException(error: unknown): ActiveSpan {
    if (this.isRecording) this.span.addEvent('exception', this.tracer.clock.now(), exceptionAttributes(error));
    return this;
  }

  setStatus(status: { code: StatusCodeValue; message?: string }): ActiveSpan {
    const code = status?.code;
    if (this.isRecording && (code === StatusCode.UNSET || code === StatusCode.OK || code === StatusCode.ERROR)) {
      this.span.statusCode = code;
      // OTLP: a description only with ERROR
      this.span.statusMessage = code === StatusCode.ERROR && typeof status.message === 'string' ? status.message : '';
    }
    return this;
  }

  spanKey(): SpanKey | undefined {
    if (!this.isRecording) return undefined;
    try {
      return { trace_id: this.span.traceUuid, span_id: this.span.spanId };
    } catch {
      return undefined;
    }
  }

  /** A child span, started now; undefined if it cannot be made. */
  child(name: string, options: WithSpanOptions | undefined): SpanHandle | undefined {
    const t = this.tracer;
    try {
      const parent = this.span;
      parent.resolve(t.ids.traceId);
      const kind = KINDS[options?.kind ?? 'internal'] ?? SpanKind.INTERNAL;
      const id = t.ids.spanId();
      const span = Span.create({
        name: String(name),
        kind,
        traceId: parent.tid,
        spanId: id,
        parentSpanId: parent.spanId,
        flags: FLAGS_LOCAL_PARENT,
        start: t.clock.now(),
        attributes: [],
      });
      const handle = new SpanHandle(span, t);
      if (options?.attributes) handle.setAttributes(options.attributes);
      return handle;
    } catch (err) {
      t.diagnostics.warn('internal', `withSpan: ${errorText(err)}`);
      return undefined;
    }
  }

  /** Ends a withSpan child: as it is on success, ERROR with an exception event on a throw. */
  finish(failed: boolean, error?: unknown): void {
    const t = this.tracer;
    if (this.span.end !== -1) return;
    try {
      if (!failed) t.end(this.span);
      else t.fail(this.span, errorMessage(error), error);
    } catch (err) {
      t.diagnostics.warn('internal', `withSpan: ${errorText(err)}`);
    }
  }
}

/** The span of nothing: every method does nothing. */
class NoopSpan implements ActiveSpan {
  get isRecording(): boolean {
    return false;
  }
  setAttribute(): ActiveSpan {
    return this;
  }
  setAttributes(): ActiveSpan {
    return this;
  }
  addEvent(): ActiveSpan {
    return this;
  }
  recordException(): ActiveSpan {
    return this;
  }
  setStatus(): ActiveSpan {
    return this;
  }
  spanKey(): undefined {
    return undefined;
  }
}

export const NOOP_SPAN: ActiveSpan = Object.freeze(new NoopSpan());

const slot = makeContextSlot<SpanHandle | NoopSpan>();
/** The hooks enter spans' contexts (see the top of this file). */
let on = false;
/** Some active tracer lets handlers reach their spans (its handlerSpans is not false). */
let allowed = false;

/**
 * Switches the context on, giving the caller's async context a defined value (the no-op span).
 * On Node 20, AsyncLocalStorage tracks promises only while some value is set; a context entered
 * from an untracked continuation lands on a resource shared by all of them and would show one
 * request's span to another. With a value set at start-up, every continuation is tracked and a
 * context entered in the wrong place is simply not seen.
 */
function switchOn(): void {
  on = true;
  if (slot.get() === undefined) slot.enter(NOOP_SPAN as NoopSpan);
}

/** Called when an active tracer is made, usually at start-up, with its handlerSpans option. */
function registerTracer(handlerSpans: boolean | undefined): void {
  if (handlerSpans === false) return;
  allowed = true;
  if (handlerSpans && !on) switchOn();
}

/** The first use of the API switches the context on, when a tracer allows it. */
function firstUse(): void {
  if (allowed) switchOn();
}

/**
 * Enters the context of a request or process span (from beforeRouting / beforeProcess), or of
 * no span (unsampled: so the handler cannot see a span of an earlier request).
 */
function enterSpan(tracer: Tracer, span: Span | undefined): void {
  if (!on || tracer.config.handlerSpans === false) return;
  slot.enter(span ? new SpanHandle(span, tracer) : (NOOP_SPAN as NoopSpan));
}

/** Tracers already told that handlers cannot see their spans. */
const warned = new WeakSet<Tracer>();

/**
 * Checks, from the after-hook (which the host runs in the handler's context), that the handler
 * could see `span`. If not, the tracing middleware did not run in the host's own call (another
 * middleware was registered before it): said once per tracer, since handlers get the no-op span.
 * Only with handlerSpans: true, where every span was entered (when the first use switches the
 * context on, the requests then in flight were not, and would say so wrongly).
 */
function checkReached(tracer: Tracer, span: Span): void {
  if (tracer.config.handlerSpans !== true) return;
  const value = slot.get();
  if ((value instanceof SpanHandle && value.span === span) || warned.has(tracer)) return;
  warned.add(tracer);
  tracer.diagnostics.warn(
    'context',
    'currentSpan() and withSpan() cannot see the spans of requests in the handlers: register the tracing ' +
      'middleware before any other (call initiateOtlpTracing first); handlers get a no-op span meanwhile',
  );
}

// The middlewares reach this module only through the seam: importing it is what turns it on.
installHandlerContext({ registerTracer, enterSpan, checkReached, currentSpanKey });

/** The span of the request or process attempt being handled (or of the withSpan around), else the no-op span. */
export function currentSpan(): ActiveSpan {
  if (!on) firstUse();
  const value = slot.get();
  return value !== undefined && value.isRecording ? value : NOOP_SPAN;
}

/** The current span's span_key for a downstream call, when `tracer` records it. */
function currentSpanKey(tracer: Tracer): SpanKey | undefined {
  if (!on) firstUse();
  const value = slot.get();
  return value instanceof SpanHandle && value.tracer === tracer ? value.spanKey() : undefined;
}

/**
 * Runs fn inside a child span of the current one (INTERNAL, or CLIENT with `kind: 'client'`).
 * The span ends when fn returns or, for a promise, when it settles; a throw or rejection makes it
 * ERROR with an exception event and reaches the caller unchanged. Without a current span, fn
 * runs with the no-op span.
 */
export function withSpan<R>(name: string, fn: (span: ActiveSpan) => R, options?: WithSpanOptions): R {
  if (!on) firstUse();
  const parent = slot.get();
  const child = parent instanceof SpanHandle && parent.isRecording ? parent.child(name, options) : undefined;
  if (!child) return fn(NOOP_SPAN);
  let result: R;
  try {
    result = slot.run(child, () => fn(child));
  } catch (error) {
    child.finish(true, error);
    throw error;
  }
  if (!isThenable(result)) {
    child.finish(false);
    return result;
  }
  return result.then(
    (value) => {
      child.finish(false);
      return value;
    },
    (error: unknown) => {
      child.finish(true, error);
      throw error;
    },
  ) as R;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  const isObject = (typeof value === 'object' || typeof value === 'function') && value !== null;
  return isObject && typeof (value as PromiseLike<unknown>).then === 'function';
}

function isAttributeValue(value: unknown): value is AttributeValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return true;
    default:
      return Array.isArray(value) && value.every(isScalar);
  }
}

function isScalar(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function flatAttributes(attributes: Attributes | undefined): unknown[] {
  const flat: unknown[] = [];
  if (typeof attributes !== 'object' || attributes === null) return flat;
  for (const key of Object.keys(attributes)) {
    const value = attributes[key];
    if (isAttributeValue(value)) flat.push(key, value);
  }
  return flat;
}

/** A one-line status message from anything thrown: "Name: message" for an Error, else "failed: value". */
function errorMessage(error: unknown): string {
  return error instanceof Error ? errorText(error) : `failed: ${errorText(error)}`;
}
