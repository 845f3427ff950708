// The span model: one plain class with fixed fields (one hidden class), filled at start,
// completed at end, read once by the encoder. Attributes are a flat [key, value, ...] array, the
// cheapest thing to build on the request path and to walk when encoding. The trace id is kept as
// it arrived (the span_key's UUID); its 32-hex form is made once, by the encoder.

import { RandomIds, canonicalUuid, hexFromUuid, parseSpanId, uuidFromTraceId } from './ids.js';

/** Random span ids for spans created without one (see `spanId`). */
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
  /** Older open span of the same trace id in the same table. */
  older: Span | null = null;
  newer: Span | null = null;
  /** @internal The span id, or '' until a random one is drawn (see spanId). */
  sid: string;
  /** @internal The trace id as it was given: 32 hex, or its canonical UUID (36). */
  tid: string;
  /**
   * @internal The span_key's trace_id and span_id as they arrived, not yet checked (see
   * resolve). A request span is made with them so that checking two
   * strings character by character happens at export, off the request path.
   */
  rawTrace: unknown = undefined;
  rawSpan: unknown = undefined;
  /** @internal rawTrace/rawSpan are still to be checked. */
  unchecked = false;

  /**
   * @param traceId 32 lowercase hex, or the same id as a canonical UUID (lowercase, hyphenated),
   * which is what the request path has in hand.
   * @param spanId 16 lowercase hex, or '' for a random id drawn when first read.
   */
  constructor(
    public name: string,
    public readonly kind: number,
    traceId: string,
    spanId: string,
    /** 16 hex, or '' for a root span. */
    public parentSpanId: string,
    public flags: number,
    public readonly start: number,
    /**
     * Flat list: key, value, key, value … or null for a request span's three standard
     * attributes, which are its own fields (request.trace_id = traceUuid, request.span_id =
     * callerId, request.route_key = name): no array per request, and less for the GC to copy
     * while the span waits in the export queue.
     */
    public attrs: unknown[] | null,
  ) {
    this.sid = spanId;
    this.tid = traceId;
  }

  /**
   * Checks a span made from an unchecked span_key (rawTrace): a usable one becomes the trace id,
   * caller and parent; an unusable one gives the span a fresh trace, no parent and
   * request.span_key_invalid, exactly as if it had been checked at start.
   */
  resolve(): void {
    if (!this.unchecked) return;
    this.unchecked = false;
    const uuid = canonicalUuid(this.rawTrace);
    const caller = uuid === null ? null : parseSpanId(this.rawSpan);
    this.rawTrace = this.rawSpan = undefined;
    if (uuid !== null && caller !== null) {
      this.tid = uuid;
      this.callerId = this.parentSpanId = caller;
      return;
    }
    this.tid = uuid ?? uuidFromTraceId(randomIds.traceId());
    this.callerId = this.parentSpanId = '';
    this.flags = FLAGS_LOCAL_PARENT;
    this.attrs = ['request.trace_id', this.tid, 'request.span_key_invalid', true, 'request.route_key', this.name];
  }

  /** The span id, 16 lowercase hex. */
  get spanId(): string {
    return this.sid || (this.sid = randomIds.spanId());
  }

  /** The trace id, 32 lowercase hex. */
  get traceId(): string {
    this.resolve();
    return this.tid.length === 32 ? this.tid : hexFromUuid(this.tid);
  }

  /** The trace id as a canonical UUID, the form EcoSystem's span_key carries. */
  get traceUuid(): string {
    this.resolve();
    return this.tid.length === 36 ? this.tid : uuidFromTraceId(this.tid);
  }

  /** Every attribute as a flat list (the standard request ones spelled out). */
  attributes(): unknown[] {
    this.resolve();
    if (this.attrs !== null) return this.attrs;
    const a: unknown[] = ['request.trace_id', this.traceUuid];
    if (this.callerId !== '') a.push('request.span_id', this.callerId);
    a.push('request.route_key', this.name);
    return a;
  }

  setAttribute(key: string, value: AttributeValue): void {
    const a = (this.attrs ??= this.attributes());
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === key) {
        a[i + 1] = value;
        return;
      }
    }
    a.push(key, value);
  }

  getAttribute(key: string): unknown {
    const a = this.attributes();
    for (let i = 0; i < a.length; i += 2) if (a[i] === key) return a[i + 1];
    return undefined;
  }

  addEvent(name: string, time: number, attrs: unknown[]): void {
    (this.events ??= []).push({ name, time, attrs });
  }
}

/** The `exception` event's attributes from anything a handler may throw. */
export function exceptionAttributes(error: unknown): unknown[] {
  let type = 'Error';
  let message = '';
  let stack = '';
  if (error instanceof Error) {
    type = error.name || error.constructor?.name || 'Error';
    message = String(error.message ?? '');
    stack = typeof error.stack === 'string' ? error.stack : '';
  } else if (error !== null && typeof error === 'object') {
    type = (error as object).constructor?.name || 'Object';
    try {
      message = JSON.stringify(error) ?? String(error);
    } catch {
      message = Object.prototype.toString.call(error);
    }
  } else {
    type = typeof error;
    message = String(error);
  }
  const attrs: unknown[] = ['exception.type', type, 'exception.message', message];
  if (stack) attrs.push('exception.stacktrace', stack);
  return attrs;
}
