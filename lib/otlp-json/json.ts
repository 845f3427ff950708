// The JSON text of spans and their values, per OTLP's proto3 JSON mapping: lowerCamelCase keys,
// ids as lowercase hex, enums as integers, 64-bit integers as decimal strings, fields at their
// default value omitted. Lone surrogates are left in the text: TextEncoder, which makes every
// byte written, turns each into U+FFFD (protobuf decoders reject a \udXXX escape).
import { epochNanos, type Clock } from '../trace/clock.js';
import type { Span } from '../trace/span.js';

const NEEDS_ESCAPE = /[\0-\x1f"\\]/;
/** Only ever used by replace(), which starts from lastIndex 0 and leaves it at 0. */
const EVERY_ESCAPE = /[\0-\x1f"\\]/g;

const escapeCharacter = (c: string): string => JSON.stringify(c).slice(1, -1);

/** A JSON string literal of s, as JSON.stringify writes it, except that a lone surrogate is left as it is. */
export function jsonString(s: string): string {
  // Nearly every string a tracer sees needs no escape: one regex test, no copy.
  return '"' + (NEEDS_ESCAPE.test(s) ? s.replace(EVERY_ESCAPE, escapeCharacter) : s) + '"';
}

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** s cut to `limit` code units, never between the two halves of a surrogate pair. */
export function truncate(s: string, limit: number): string {
  if (s.length <= limit) return s;
  return s.slice(0, HIGH_SURROGATE.test(s[limit - 1]!) ? limit - 1 : limit);
}

/** An AnyValue of one kind: `{"<kind>Value":<json>}`. */
const typed = (kind: string, json: unknown): string => '{"' + kind + 'Value":' + json + '}';

function scalar(v: unknown, limit: number): string | null {
  switch (typeof v) {
    case 'string':
      return typed('string', jsonString(truncate(v, limit)));
    case 'boolean':
      return typed('bool', v);
    case 'number':
      if (Number.isSafeInteger(v)) return typed('int', '"' + v + '"');
      if (Number.isFinite(v)) return typed('double', v);
      // NaN and ±Infinity have no JSON number; receivers differ on proto3's "NaN" strings,
      // so they travel as text, which every backend shows.
      return typed('string', '"' + v + '"');
    case 'bigint':
      return typed(BigInt.asIntN(64, v) === v ? 'int' : 'string', '"' + v + '"');
    default:
      return null;
  }
}

/**
 * An AnyValue as JSON text (a lone surrogate in it becomes U+FFFD when written as UTF-8), or null
 * when the value cannot be an attribute (null, undefined, object, function).
 */
export function anyValue(v: unknown, limit: number): string | null {
  if (!Array.isArray(v)) return scalar(v, limit);
  const values: string[] = [];
  for (const element of v) {
    // Arrays may hold null; OTLP writes an empty AnyValue for it.
    const value = element === null || element === undefined ? '{}' : scalar(element, limit);
    if (value !== null) values.push(value);
  }
  return '{"arrayValue":{' + (values.length ? '"values":[' + values + ']' : '') + '}}';
}

/** Thrown while a span's text is built, once it is longer than the span may be. */
export class SpanTooLarge extends Error {}

/** Attribute keys cached at most (keys are few; a bound all the same). */
const MAX_CACHED_KEYS = 1024;

/**
 * A span's JSON object, fields in the proto's declaration order: its head (ids, flags, name, kind,
 * timestamps) and its tail (attributes, events, status). One per encoder: it caches key texts.
 */
export class SpanText {
  readonly #limit: number;
  readonly #clock: Clock;
  /**
   * `{"key":<key>,"value":` per string key (1.57 -> 1.34 us/span when introduced). Keys of other
   * types are not cached: their toString runs every time.
   */
  readonly #keyHeads = new Map<string, string>();

  /** @param limit the longest string value kept (code units); Infinity for no limit. */
  constructor(limit: number, clock: Clock) {
    this.#limit = limit;
    this.#clock = clock;
  }

  head(span: Span): string {
    const parent = span.parentSpanId ? '","parentSpanId":"' + span.parentSpanId : '';
    const kind = span.kind ? ',"kind":' + span.kind : '';
    return (
      '{"traceId":"' + span.traceId + '","spanId":"' + span.spanId + parent + '","flags":' + span.flags +
      ',"name":' + jsonString(truncate(span.name, this.#limit)) + kind +
      ',"startTimeUnixNano":"' + epochNanos(this.#clock, span.start) +
      '","endTimeUnixNano":"' + epochNanos(this.#clock, span.end) + '"'
    );
  }

  /** The rest of the object, closing brace included; throws SpanTooLarge past `budget` code units. */
  tail(span: Span, budget: number): string {
    const limit = this.#limit;
    let json = this.attributes(span.flatAttributes(), budget);
    if (span.recordedEvents?.length) {
      json += ',"events":[';
      for (let i = 0; i < span.recordedEvents.length; i++) {
        const event = span.recordedEvents[i]!;
        json += (i ? ',' : '') + '{"timeUnixNano":"' + epochNanos(this.#clock, event.time) +
          '","name":' + jsonString(truncate(event.name, limit)) + this.attributes(event.attrs, budget) + '}';
        if (json.length > budget) throw new SpanTooLarge();
      }
      json += ']';
    }
    if (span.statusCode) {
      const message = span.statusMessage ? '"message":' + jsonString(truncate(span.statusMessage, limit)) + ',' : '';
      json += ',"status":{' + message + '"code":' + span.statusCode + '}';
    }
    return json + '}';
  }

  /** `,"attributes":[...]` of a flat key/value list, or '' when none can be encoded. */
  attributes(attrs: readonly unknown[], budget = Infinity): string {
    let out = '';
    for (let i = 0; i < attrs.length; i += 2) {
      const value = anyValue(attrs[i + 1], this.#limit);
      if (value === null) continue;
      out += (out ? ',' : ',"attributes":[') + this.#keyHead(attrs[i]) + value + '}';
      if (out.length > budget) throw new SpanTooLarge();
    }
    return out ? out + ']' : '';
  }

  #keyHead(key: unknown): string {
    const cached = typeof key === 'string' ? this.#keyHeads.get(key) : undefined;
    if (cached !== undefined) return cached;
    const head = '{"key":' + jsonString(String(key)) + ',"value":';
    if (typeof key === 'string') {
      if (this.#keyHeads.size >= MAX_CACHED_KEYS) this.#keyHeads.clear();
      this.#keyHeads.set(key, head);
    }
    return head;
  }
}
