// OTLP/JSON encoder: one ExportTraceServiceRequest per batch, written as UTF-8 bytes straight
// into the request body (writer.ts: no string per batch, no intermediate objects).
//
// Two ways a span is written:
// - The usual request span is one copy of its route's template and seven short overwrites
//   (templates.ts); any other span with a parent takes its head from the same template.
// - The rest (attributes, events, error status: rare next to the usual span) is built as a
//   JSON string (json.ts) and copied in with one text() call.
//
// What one span may cost is bounded: string values are cut at valueLengthLimit, and a span whose
// JSON is still longer than maxSpanBytes is left out of the body (its batch-mates are sent) and
// reported. A body is sized from its own batch: nothing learnt from one batch makes a later one,
// or another tracer's, bigger. The encoder (one per tracer) keeps only caches of text.
import type { Clock } from '../trace/clock.js';
import { StatusCode, type Span, type AttributeValue } from '../trace/span.js';
import { SpanText, SpanTooLarge, jsonString } from './json.js';
import { EpochDigits, Templates, templated } from './templates.js';
import { ByteWriter } from './writer.js';
import { errorText } from '../util/text.js';

export { anyValue } from './json.js';
export { reusableBuffer } from './writer.js';

export interface EncoderOptions {
  resource: Record<string, AttributeValue>;
  scopeName: string;
  scopeVersion: string;
  /**
   * Longest string kept, in UTF-16 code units: attribute values (of spans, events and the
   * resource), span and event names, status messages; Infinity for no limit.
   */
  valueLengthLimit: number;
  clock: Clock;
  /** Longest span, in bytes of JSON, put in a body; a longer one is left out. Default MAX_SPAN_BYTES. */
  maxSpanBytes?: number;
}

/**
 * The default of maxSpanBytes. At the default value length limit (8192) a span made by the hooks
 * stays far below it (under 300 KiB even with every string at the limit and escaped); spans with
 * thousands of attributes or events do not, and a 512-span body stays under 512 MiB.
 */
export const MAX_SPAN_BYTES = 1024 * 1024;

/** Told of each span left out of a body, with why (a sentence fragment for a diagnostic). */
export type OnDropped = (span: Span, why: string) => void;

/** A body's first guess per span (a usual request span is about 510 bytes); more grows the body. */
const GUESSED_SPAN_BYTES = 640;
const ENVELOPE_TAIL = ']}]}]}';
const UUID_LENGTH = 36;
const COMMA = 44;

/** A tracer's encoder: its options, its envelope, and caches of text (key fragments, templates). */
export class SpanEncoder {
  readonly #clock: Clock;
  readonly #limit: number;
  readonly #maxSpanBytes: number;
  readonly #text: SpanText;
  readonly #templates: Templates;
  readonly #digits = new EpochDigits();
  /** What comes before a batch's spans: resource and scope, the same for every body. */
  readonly #envelope: string;

  constructor(opts: EncoderOptions) {
    this.#clock = opts.clock;
    this.#limit = opts.valueLengthLimit;
    this.#maxSpanBytes = opts.maxSpanBytes ?? MAX_SPAN_BYTES;
    this.#text = new SpanText(opts.valueLengthLimit, opts.clock);
    this.#templates = new Templates(this.#text);
    const resource = this.#text.attributes(Object.entries(opts.resource).flat()).slice(1); // without its leading comma
    const version = opts.scopeVersion ? ',"version":' + jsonString(opts.scopeVersion) : '';
    const scope = '{"name":' + jsonString(opts.scopeName) + version + '}';
    this.#envelope = '{"resourceSpans":[{"resource":{' + resource + '},"scopeSpans":[{"scope":' + scope + ',"spans":[';
  }

  /**
   * The batch's request body: the ExportTraceServiceRequest as UTF-8 bytes, in a buffer of its
   * own (the exporter keeps the body until it is delivered): a free one taken from `pool` when
   * one is big enough, else a new one. Spans that cannot be sent are left out and told to `onDropped`.
   */
  encode(spans: readonly Span[], pool?: Uint8Array[], onDropped?: OnDropped): Uint8Array {
    const guess = this.#envelope.length * 3 + ENVELOPE_TAIL.length + spans.length * (GUESSED_SPAN_BYTES + 1);
    const free = pool ? pool.findIndex((b) => b.length >= guess) : -1;
    const writer = new ByteWriter(free < 0 ? new Uint8Array(guess) : pool!.splice(free, 1)[0]!);
    writer.text(this.#envelope);
    let written = 0;
    for (let i = 0; i < spans.length; i++) {
      if (this.#writeListed(writer, spans[i]!, written > 0, onDropped)) written++;
    }
    writer.text(ENVELOPE_TAIL);
    return writer.written();
  }

  /** One span's JSON object, whole however large (tests, tools; bodies come from encode). */
  encodeSpan(span: Span): string {
    const writer = new ByteWriter(new Uint8Array(1024));
    this.#write(writer, span, Infinity);
    return new TextDecoder().decode(writer.written());
  }

  /** Writes the span as an element of the spans list, or nothing when it cannot be sent (and says why). */
  #writeListed(writer: ByteWriter, span: Span, comma: boolean, onDropped: OnDropped | undefined): boolean {
    const start = writer.pos;
    let why: string;
    try {
      if (comma) writer.byte(COMMA);
      const from = writer.pos;
      this.#write(writer, span, this.#maxSpanBytes);
      if (writer.pos - from <= this.#maxSpanBytes) return true;
      why = this.#tooLarge();
    } catch (err) {
      // (an attribute key's toString may throw, or a string grow past what the engine allows)
      why = err instanceof SpanTooLarge ? this.#tooLarge() : 'could not be encoded: ' + errorText(err).slice(0, 200);
    }
    writer.pos = start;
    onDropped?.(span, why);
    return false;
  }

  /** Writes the span; throws SpanTooLarge, before writing, when its text alone is over `budget`. */
  #write(writer: ByteWriter, span: Span, budget: number): void {
    span.resolve();
    const text = this.#text;
    if (!templated(span, this.#clock)) {
      const json = text.head(span) + text.tail(span, budget);
      if (json.length > budget) throw new SpanTooLarge(); // (UTF-8 has at least a byte per code unit)
      writer.text(json);
      return;
    }
    // The usual span: its caller as parent, its three standard attributes as fields (the UUID not
    // cut by the value length limit), status OK.
    const usual =
      !span.attrs && !span.recordedEvents && span.statusCode === StatusCode.OK && !span.statusMessage &&
      span.parentSpanId === span.callerId && this.#limit >= UUID_LENGTH;
    this.#templates.for(span).write(writer, span, this.#clock, this.#digits, usual);
    if (!usual) writer.text(text.tail(span, budget));
  }

  #tooLarge(): string {
    const limit = this.#limit;
    const values = limit < Infinity ? `with values cut to ${limit} characters` : '(no value length limit is set)';
    return `too large to export: more than ${this.#maxSpanBytes} bytes of JSON ${values}`;
  }
}


/** The batch's request body (a one-off encoder; a tracer keeps one SpanEncoder). */
export function encodeBatchBytes(
  spans: readonly Span[],
  opts: EncoderOptions,
  pool?: Uint8Array[],
  onDropped?: OnDropped,
): Uint8Array {
  return new SpanEncoder(opts).encode(spans, pool, onDropped);
}

/** The whole ExportTraceServiceRequest for a batch, as a string. */
export function encodeBatch(spans: readonly Span[], opts: EncoderOptions): string {
  return new TextDecoder().decode(encodeBatchBytes(spans, opts));
}

/** One span's JSON object, as a string, whole however large (tests, tools). */
export function encodeSpan(span: Span, opts: EncoderOptions): string {
  return new SpanEncoder(opts).encodeSpan(span);
}
