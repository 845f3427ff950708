// The span model: one plain class with fixed fields (one hidden class), filled at start,
// completed at end, read once by the encoder. Attributes are a flat [key, value, ...] array, the
// cheapest thing to build on the request path and to walk when encoding. The trace id is kept as
// it arrived (the span_key's UUID); its 32-hex form is made once, by the encoder.
// Exporters and tests see spans through ReadableSpan: ids in OTLP's hex, attributes and events
// as objects; the fields below are the library's own.

import { RandomIds, canonicalUuid, parseSpanId, uuidFromTraceId } from './ids.js';

/** Random ids for spans created without them (see `spanId`, `resolve`). */
const randomIds = new RandomIds();

export type AttributeScalar = string | number | boolean;
export type AttributeValue = AttributeScalar | AttributeScalar[] | bigint;

export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/** W3C sampled bit | "has is-remote" (0x100) | "parent is remote" (0x200), per OTLP's SpanFlags. */
export const FLAGS_LOCAL_PARENT = 0x101;
export const FLAGS_REMOTE_PARENT = 0x301;

export interface SpanEvent {
  name: string;
  time: number;
  /** Flat list: key, value, key, value … */
  attrs: unknown[];
}

/** A span as exporters and InMemoryExporter users see it: read-only, ids as OTLP writes them. */
export interface ReadableSpan {
  readonly name: string;
  /** SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  /** 32 lowercase hex. */
  readonly traceId: string;
  /** 16 lowercase hex. */
  readonly spanId: string;
  /** 16 lowercase hex; '' for a root span. */
  readonly parentSpanId: string;
  /** OTLP SpanFlags: 0x101, or 0x301 when the parent is remote. */
  readonly flags: number;
  /** StatusCode: 0 unset, 1 OK, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
  /** End minus start, in nanoseconds; 0 while open (the exported payload has both as epoch timestamps). */
  readonly durationNanos: number;
  /** Every attribute, the standard request ones included (a new frozen object per read). */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly events: readonly { readonly name: string; readonly attributes: Readonly<Record<string, unknown>> }[];
}

/** What a span starts with (Span.create). */
export interface SpanInit {
  name: string;
  kind: number;
  /** 32 lowercase hex, or the same id as a canonical UUID (lowercase, hyphenated). */
  traceId: string;
  /** 16 lowercase hex; omitted: a random id, drawn when first read. */
  spanId?: string;
  /** 16 lowercase hex; omitted: a root span. */
  parentSpanId?: string;
  flags: number;
  /** Clock reading at start. */
  start: number;
  /** Flat list: key, value, key, value … */
  attributes?: unknown[];
}

function toObject(flat: readonly unknown[]): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return Object.freeze(out);
}

export class Span implements ReadableSpan {
  // Every field is set here, in one order, so all spans share one hidden class; the factories
  // below fill them in.
  name = '';
  kind = 0;
  /**
   * The trace id: 32 lowercase hex, or its canonical UUID (what the request path has); '' while
   * rawTrace is unchecked.
   */
  tid = '';
  /**
   * The span id, 16 lowercase hex, or '' for a random id drawn when first read (see spanId): most
   * request spans draw theirs in the encoder, off the request path (request path 600 -> 480 ns).
   */
  sid = '';
  /** 16 hex, or '' for a root span. */
  parentSpanId = '';
  flags = 0;
  /** Clock reading at start. */
  start = 0;
  /** Clock reading at end; -1 while the span is open. */
  end = -1;
  statusCode = 0;
  statusMessage = '';
  /**
   * Flat list: key, value, key, value … or null for a request span's three standard
   * attributes, which are its own fields (request.trace_id = traceUuid, request.span_id =
   * callerId, request.route_key = name): no array per request, and less for the GC to copy
   * while the span waits in the export queue (peer e2e 4.2 -> 3.7 us/span).
   */
  attrs: unknown[] | null = null;
  recordedEvents: SpanEvent[] | null = null;
  /** The caller's span id from the span_key (16 hex), '' when it had none; used to match by span_key. */
  callerId = '';
  /**
   * The span_key's trace_id and span_id as they arrived, not yet checked (while `tid` is '';
   * see resolve). A request span is made with them so that checking two strings character by
   * character happens at export, off the request path (request path 0.74 -> 0.57 us/request).
   */
  rawTrace: unknown = undefined;
  rawSpan: unknown = undefined;
  // Bookkeeping while open (see open-spans.ts); cleared at end so exported spans hold no host objects.
  /** The table key: the host's DTO object (or metadata object), or a token. */
  key: object | null = null;
  /** The span_key as the start hook got it: the same object comes back to the later hooks. */
  spanKey: unknown = undefined;

  private constructor() {}

  static create(init: SpanInit): Span {
    const span = new Span();
    span.name = init.name;
    span.kind = init.kind;
    span.tid = init.traceId;
    span.sid = init.spanId ?? '';
    span.parentSpanId = init.parentSpanId ?? '';
    span.flags = init.flags;
    span.start = init.start;
    span.attrs = init.attributes ?? null;
    return span;
  }

  /**
   * A span whose trace, caller and parent come from a span_key, read now and checked later
   * (resolve): the usual request pays for reading two fields, not for checking 52 characters.
   */
  static fromSpanKey(name: string, kind: number, spanKey: unknown, start: number): Span {
    const span = new Span();
    span.name = name;
    span.kind = kind;
    span.flags = FLAGS_REMOTE_PARENT;
    span.start = start;
    span.spanKey = spanKey;
    span.rawTrace = (spanKey as { trace_id?: unknown } | undefined)?.trace_id;
    span.rawSpan = (spanKey as { span_id?: unknown } | undefined)?.span_id;
    return span;
  }

  /**
   * Checks a span made from an unchecked span_key (rawTrace): a usable one becomes the trace id,
   * caller and parent; an unusable one gives the span a fresh trace (from `freshTraceId`), no
   * parent and request.span_key_invalid. Done at export unless someone needs it sooner.
   */
  resolve(freshTraceId = randomIds.traceId): void {
    if (this.tid) return;
    const uuid = canonicalUuid(this.rawTrace);
    const caller = uuid && parseSpanId(this.rawSpan);
    this.rawTrace = undefined;
    this.rawSpan = undefined;
    this.tid = uuid ?? uuidFromTraceId(freshTraceId());
    this.callerId = caller ?? '';
    this.parentSpanId = this.callerId;
    if (!caller) {
      this.flags = FLAGS_LOCAL_PARENT;
      this.attrs = this.flatAttributes();
    }
  }

  /** The span id, 16 lowercase hex. */
  get spanId(): string {
    if (!this.sid) this.sid = randomIds.spanId();
    return this.sid;
  }

  /** The trace id, 32 lowercase hex. */
  get traceId(): string {
    this.resolve();
    return this.tid.replace(/-/g, '');
  }

  /** The trace id as a canonical UUID, the form EcoSystem's span_key carries. */
  get traceUuid(): string {
    this.resolve();
    return this.tid.length === 36 ? this.tid : uuidFromTraceId(this.tid);
  }

  get durationNanos(): number {
    return this.end < 0 ? 0 : this.end - this.start;
  }

  get attributes(): Readonly<Record<string, unknown>> {
    return toObject(this.flatAttributes());
  }

  get events(): ReadableSpan['events'] {
    return (this.recordedEvents ?? []).map((e) => Object.freeze({ name: e.name, attributes: toObject(e.attrs) }));
  }

  /** request.trace_id, then request.span_id, or request.span_key_invalid when the span_key had no usable caller. */
  keyAttributes(): unknown[] {
    const caller = this.callerId ? ['request.span_id', this.callerId] : ['request.span_key_invalid', true];
    return ['request.trace_id', this.traceUuid, ...caller];
  }

  /** Every attribute as a flat list (the standard request ones spelled out). */
  flatAttributes(): unknown[] {
    this.resolve();
    return this.attrs ?? [...this.keyAttributes(), 'request.route_key', this.name];
  }

  addEvent(name: string, time: number, attrs: unknown[]): void {
    (this.recordedEvents ??= []).push({ name, time, attrs });
  }
}

/** The `exception` event's attributes from anything a handler may throw. */
export function exceptionAttributes(error: unknown): unknown[] {
  const isError = error instanceof Error;
  const isObject = typeof error === 'object' && error !== null;
  let message: string;
  try {
    if (isError) message = String(error.message ?? '');
    else if (isObject) message = JSON.stringify(error) ?? String(error);
    else message = String(error);
  } catch {
    message = Object.prototype.toString.call(error);
  }
  // the error's name, else its class; 'Error' / 'Object' when it has neither; else the primitive's type
  const fallback = isError ? 'Error' : isObject ? 'Object' : typeof error;
  const type = (isError && error.name) || (isObject && error.constructor?.name) || fallback;
  const attrs: unknown[] = ['exception.type', type, 'exception.message', message];
  if (isError && typeof error.stack === 'string' && error.stack) attrs.push('exception.stacktrace', error.stack);
  return attrs;
}
