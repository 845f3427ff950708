// Per-route templates. The usual request span (a caller, its three standard attributes as
// fields, status OK) is, for a given route, the same bytes everywhere but at seven fixed places:
// the ids, the two timestamps, the UUID and the caller id. It is written as one copy of its
// route's template and seven short overwrites, nothing built per span (peer e2e 3.55 -> 3.33
// us/span when introduced). Any other span with a parent takes its head (ids, name, timestamps)
// from the same template. Templates are made by SpanText, from a model span with zero ids, so
// both ways give the same bytes by construction.
import { Span, StatusCode } from '../trace/span.js';
import type { Clock } from '../trace/clock.js';
import type { SpanText } from './json.js';
import type { ByteWriter } from './writer.js';
import { SecondDigits } from '../util/text.js';

const ZERO_ID = '0'.repeat(16);
/** Epoch nanoseconds as templates hold them: 10 digits of seconds (until the year 2286), 9 of nanoseconds. */
const SECOND_DIGITS = 10;
const NANOS_DIGITS = 19;

/**
 * Writes timestamps as 19 digits, keeping the digits of the last second written: consecutive
 * timestamps nearly always share it (encode bench 849 -> 811 ns/span against String(second) each time).
 */
export class EpochDigits {
  readonly #seconds = new SecondDigits();

  /** Clock reading t as epoch nanoseconds (as epochNanos writes them) at byte offset `at`. */
  write(writer: ByteWriter, clock: Clock, t: number, at: number): void {
    const whole = Math.floor(t / 1e9);
    let rest = t - whole * 1e9; // 0 <= rest < 1e9: fits an int32
    writer.overwrite(this.#seconds.of(clock.baseSec + whole), at);
    const bytes = writer.bytes;
    for (let i = at + NANOS_DIGITS - 1; i >= at + SECOND_DIGITS; i--) {
      const tenth = (rest / 10) | 0;
      bytes[i] = 48 + rest - tenth * 10; // '0' + the last digit
      rest = tenth;
    }
  }
}

/** Whether templates can hold the span: it has a parent, and timestamps with 10-digit seconds. */
export function templated(span: Span, clock: Clock): boolean {
  const base = clock.baseSec;
  return span.parentSpanId !== '' && base >= 1e9 && base + Math.floor(span.end / 1e9) < 1e10;
}

/** The usual span of one route (name, flags, kind) as bytes, and where its variable parts go. */
export class Template {
  readonly #model: Span;
  readonly #whole: Uint8Array;
  /** The span's head: to the end time's closing quote. */
  readonly #head: Uint8Array;
  // Byte offsets of the variable parts (the name before them may be non-ASCII: counted in UTF-8).
  readonly #traceIdAt: number;
  readonly #spanIdAt: number;
  readonly #parentIdAt: number;
  readonly #startAt: number;
  readonly #endAt: number;
  readonly #uuidAt: number;
  readonly #callerIdAt: number;

  constructor(span: Span, text: SpanText) {
    const model = Span.create({
      name: span.name,
      kind: span.kind,
      traceId: ZERO_ID + ZERO_ID,
      spanId: ZERO_ID,
      parentSpanId: ZERO_ID,
      flags: span.flags,
      start: 0,
    });
    model.callerId = model.parentSpanId;
    model.statusCode = StatusCode.OK;
    model.end = 0; // timestamps of the base second: 10-digit seconds like the spans it serves
    this.#model = model;
    const json = text.head(model) + text.tail(model, Infinity);
    const encoder = new TextEncoder();
    // Each part follows its key, found in order. No JSON string literal holds `":"` unescaped,
    // so a name cannot fake a key.
    let from = 0;
    const after = (key: string): number => {
      from = json.indexOf(key, from) + key.length;
      return encoder.encode(json.slice(0, from)).length;
    };
    this.#traceIdAt = after('"traceId":"');
    this.#spanIdAt = after('"spanId":"');
    this.#parentIdAt = after('"parentSpanId":"');
    this.#startAt = after('"startTimeUnixNano":"');
    this.#endAt = after('"endTimeUnixNano":"');
    this.#uuidAt = after('"key":"request.trace_id","value":{"stringValue":"');
    this.#callerIdAt = after('"key":"request.span_id","value":{"stringValue":"');
    this.#whole = encoder.encode(json);
    this.#head = this.#whole.subarray(0, this.#endAt + NANOS_DIGITS + 1);
  }

  fits(span: Span): boolean {
    const model = this.#model;
    return model.name === span.name && model.flags === span.flags && model.kind === span.kind;
  }

  /** Writes the span: whole when it is the usual span, else its head (it must be `templated`). */
  write(writer: ByteWriter, span: Span, clock: Clock, digits: EpochDigits, whole: boolean): void {
    const start = writer.pos;
    writer.copy(whole ? this.#whole : this.#head);
    // The trace id as given: 32 hex, or (the request path) the span_key's UUID, written without its hyphens.
    const traceId = span.tid;
    const bytes = writer.bytes;
    for (let i = 0, at = start + this.#traceIdAt; i < traceId.length; i++) {
      const c = traceId.charCodeAt(i);
      if (c !== 45 /* '-' */) bytes[at++] = c;
    }
    writer.overwrite(span.spanId, start + this.#spanIdAt);
    writer.overwrite(span.parentSpanId, start + this.#parentIdAt);
    digits.write(writer, clock, span.start, start + this.#startAt);
    digits.write(writer, clock, span.end, start + this.#endAt);
    if (whole) {
      writer.overwrite(span.traceUuid, start + this.#uuidAt);
      writer.overwrite(span.callerId, start + this.#callerIdAt);
    }
  }
}

/** Routes with a template at most (routes are few; a bound all the same). */
const MAX_TEMPLATES = 256;

/** The templates of one encoder, by route name. */
export class Templates {
  readonly #text: SpanText;
  readonly #byName = new Map<string, Template>();
  /** The last one used: batches are mostly runs of the same route. */
  #last: Template | undefined;

  constructor(text: SpanText) {
    this.#text = text;
  }

  for(span: Span): Template {
    let template = this.#last;
    if (template?.fits(span)) return template;
    template = this.#byName.get(span.name);
    if (!template?.fits(span)) {
      if (this.#byName.size >= MAX_TEMPLATES) this.#byName.clear();
      template = new Template(span, this.#text);
      this.#byName.set(span.name, template);
    }
    this.#last = template;
    return template;
  }
}

