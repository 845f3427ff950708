// The span model: one plain class with fixed fields (one hidden class), filled at start,
// completed at end, read once by the encoder. Attributes are a flat [key, value, ...] array, the
// cheapest thing to build on the request path and to walk when encoding. The trace id is kept as
// it arrived (the span_key's UUID); its 32-hex form is made once, by the encoder.

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
  attrs: unknown[];
}

export class Span {
  /** Clock reading at end; -1 while the span is open. */
  end = -1;
  statusCode = 0;
  statusMessage = '';
  events: SpanEvent[] | null = null;
  // Bookkeeping while open (see open-spans.ts); cleared at end so exported spans hold no host objects.
  /** The map key: the host's DTO object, or a token. */
  key: object | null = null;
  /** The caller's span id from the span_key (16 hex), '' when it had none; used to match by span_key. */
  callerId = '';
  /**
   * @internal The span_key's trace_id and span_id as they arrived, not yet checked (while `tid`
   * is ''; see resolve). A request span is made with them so that checking two strings character
   * by character happens at export, off the request path.
   */
  rawTrace: unknown;
  rawSpan: unknown;
  // Set by the constructor (declared here, not as parameter properties: the same fields, less code).
  declare name: string;
  declare readonly kind: number;
  /** @internal The trace id: 32 lowercase hex, or its canonical UUID (what the request path has); '' while rawTrace is unchecked. */
  declare tid: string;
  /** @internal The span id, 16 lowercase hex, or '' for a random id drawn when first read (see spanId). */
  declare sid: string;
  /** 16 hex, or '' for a root span. */
  declare parentSpanId: string;
  declare flags: number;
  /** Clock reading at start. */
  declare start: number;
  /**
   * Flat list: key, value, key, value … or null for a request span's three standard
   * attributes, which are its own fields (request.trace_id = traceUuid, request.span_id =
   * callerId, request.route_key = name): no array per request, and less for the GC to copy
   * while the span waits in the export queue.
   */
  declare attrs: unknown[] | null;

  /**
   * @param traceId 32 lowercase hex, or the same id as a canonical UUID (lowercase, hyphenated).
   * @param spanId 16 lowercase hex, or '' for a random id drawn when first read.
   */
  constructor(name: string, kind: number, traceId: string, spanId: string, parentSpanId: string, flags: number, start: number, attrs: unknown[] | null) {
    this.name = name;
    this.kind = kind;
    this.tid = traceId;
    this.sid = spanId;
    this.parentSpanId = parentSpanId;
    this.flags = flags;
    this.start = start;
    this.attrs = attrs;
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
    this.rawTrace = this.rawSpan = undefined;
    this.tid = uuid ?? uuidFromTraceId(freshTraceId());
    this.callerId = this.parentSpanId = caller ?? '';
    if (!caller) {
      this.flags = FLAGS_LOCAL_PARENT;
      this.attrs = this.attributes();
    }
  }

  /** The span id, 16 lowercase hex. */
  get spanId(): string {
    return this.sid || (this.sid = randomIds.spanId());
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

  /** request.trace_id, then request.span_id, or request.span_key_invalid when the span_key had no usable caller. */
  keyAttributes(): unknown[] {
    return ['request.trace_id', this.traceUuid, ...(this.callerId ? ['request.span_id', this.callerId] : ['request.span_key_invalid', true])];
  }

  /** Every attribute as a flat list (the standard request ones spelled out). */
  attributes(): unknown[] {
    this.resolve();
    return this.attrs ?? [...this.keyAttributes(), 'request.route_key', this.name];
  }

  addEvent(name: string, time: number, attrs: unknown[]): void {
    (this.events ??= []).push({ name, time, attrs });
  }
}

/** The `exception` event's attributes from anything a handler may throw. */
export function exceptionAttributes(error: unknown): unknown[] {
  const isError = error instanceof Error;
  const isObject = typeof error === 'object' && error !== null;
  let message: string;
  try {
    message = isError ? String(error.message ?? '') : isObject ? (JSON.stringify(error) ?? String(error)) : String(error);
  } catch {
    message = Object.prototype.toString.call(error);
  }
  // the error's name, else its class; 'Error' / 'Object' when it has neither; else the primitive's type
  const type = (isError && error.name) || (isObject && error.constructor?.name) || (isError ? 'Error' : isObject ? 'Object' : typeof error);
  const attrs: unknown[] = ['exception.type', type, 'exception.message', message];
  if (isError && typeof error.stack === 'string' && error.stack) attrs.push('exception.stacktrace', error.stack);
  return attrs;
}
