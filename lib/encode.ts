// OTLP/JSON encoder: one ExportTraceServiceRequest string per batch, built in a single pass of
// string concatenation (no intermediate objects). Rules (OTLP's proto3 JSON mapping):
// lowerCamelCase keys, ids as lowercase hex, enums as integers, 64-bit integers as decimal
// strings, fields at their default value omitted, strings made well-formed UTF-16 first.
import { epochNanos, type Clock } from './clock.js';
import type { Span, SpanEvent, AttributeValue } from './span.js';

export interface EncoderOptions {
  resource: Record<string, AttributeValue>;
  scopeName: string;
  scopeVersion: string;
  /** Longest string attribute value kept (code units); Infinity for no limit. */
  valueLengthLimit: number;
  clock: Clock;
}

// A lone surrogate is escaped by JSON.stringify as \udXXX, which protobuf decoders reject as
// invalid UTF-8; replace it with U+FFFD first. Node 20+/modern engines have toWellFormed.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
type WF = { isWellFormed?(): boolean; toWellFormed?(): string };
export const wellFormed: (s: string) => string =
  typeof (String.prototype as WF).toWellFormed === 'function'
    ? (s) => ((s as unknown as WF).isWellFormed!() ? s : (s as unknown as WF).toWellFormed!())
    : (s) => s.replace(LONE_SURROGATE, '\uFFFD');

/** A JSON string literal of s, well-formed. */
export function jsonString(s: string): string {
  return JSON.stringify(wellFormed(s));
}

function truncate(s: string, limit: number): string {
  if (s.length <= limit) return s;
  let cut = limit;
  // Do not split a surrogate pair: drop its high half instead.
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return s.slice(0, cut);
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function scalar(v: unknown, limit: number): string | null {
  switch (typeof v) {
    case 'string':
      return '{"stringValue":' + jsonString(truncate(v, limit)) + '}';
    case 'boolean':
      return v ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'number':
      if (Number.isSafeInteger(v)) return '{"intValue":"' + v + '"}';
      // NaN and ±Infinity have no JSON number; receivers differ on proto3's "NaN" strings,
      // so they travel as text, which every backend shows.
      if (!Number.isFinite(v)) return '{"stringValue":"' + String(v) + '"}';
      return '{"doubleValue":' + String(v) + '}';
    case 'bigint':
      return v >= INT64_MIN && v <= INT64_MAX ? '{"intValue":"' + v + '"}' : '{"stringValue":"' + v + '"}';
    default:
      return null;
  }
}

/** An AnyValue, or null when the value cannot be an attribute (null, undefined, object, function). */
export function anyValue(v: unknown, limit: number): string | null {
  if (Array.isArray(v)) {
    let out = '';
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      // Arrays may hold null; OTLP writes an empty AnyValue for it.
      const enc = e === null || e === undefined ? '{}' : scalar(e, limit);
      if (enc === null) continue;
      out += out ? ',' + enc : enc;
    }
    return out ? '{"arrayValue":{"values":[' + out + ']}}' : '{"arrayValue":{}}';
  }
  return scalar(v, limit);
}

/** `"attributes":[...]` for a flat key/value list, or '' when it has none. */
function attributes(attrs: readonly unknown[], limit: number): string {
  let out = '';
  for (let i = 0; i < attrs.length; i += 2) {
    const value = anyValue(attrs[i + 1], limit);
    if (value === null) continue;
    const kv = '{"key":' + jsonString(String(attrs[i])) + ',"value":' + value + '}';
    out += out ? ',' + kv : kv;
  }
  return out ? '"attributes":[' + out + ']' : '';
}

function events(list: SpanEvent[], opts: EncoderOptions): string {
  let out = '';
  for (const e of list) {
    const attrs = attributes(e.attrs, opts.valueLengthLimit);
    out +=
      (out ? ',' : '') +
      '{"timeUnixNano":"' + epochNanos(opts.clock, e.time) + '","name":' + jsonString(e.name) +
      (attrs ? ',' + attrs : '') + '}';
  }
  return out;
}

/** One span's JSON object, fields in the proto's declaration order, defaults omitted. */
export function encodeSpan(s: Span, opts: EncoderOptions): string {
  const limit = opts.valueLengthLimit;
  let out =
    '{"traceId":"' + s.traceId + '","spanId":"' + s.spanId + '"' +
    (s.parentSpanId ? ',"parentSpanId":"' + s.parentSpanId + '"' : '') +
    ',"flags":' + s.flags +
    ',"name":' + jsonString(truncate(s.name, limit)) +
    (s.kind ? ',"kind":' + s.kind : '') +
    ',"startTimeUnixNano":"' + epochNanos(opts.clock, s.start) +
    '","endTimeUnixNano":"' + epochNanos(opts.clock, s.end) + '"';
  const attrs = attributes(s.attrs, limit);
  if (attrs) out += ',' + attrs;
  if (s.events !== null && s.events.length > 0) out += ',"events":[' + events(s.events, opts) + ']';
  if (s.statusCode !== 0) {
    out += s.statusMessage
      ? ',"status":{"message":' + jsonString(truncate(s.statusMessage, limit)) + ',"code":' + s.statusCode + '}'
      : ',"status":{"code":' + s.statusCode + '}';
  }
  return out + '}';
}

/**
 * The constant head and tail around a batch's spans: resource and scope are the same for every
 * payload of a tracer, so they are encoded once.
 */
export function envelope(opts: EncoderOptions): { head: string; tail: string } {
  const res: unknown[] = [];
  for (const k of Object.keys(opts.resource)) res.push(k, opts.resource[k]);
  const resAttrs = attributes(res, opts.valueLengthLimit);
  const scope =
    '{"name":' + jsonString(opts.scopeName) + (opts.scopeVersion ? ',"version":' + jsonString(opts.scopeVersion) : '') + '}';
  return {
    head: '{"resourceSpans":[{"resource":{' + resAttrs + '},"scopeSpans":[{"scope":' + scope + ',"spans":[',
    tail: ']}]}]}',
  };
}

/** The whole ExportTraceServiceRequest for a batch. */
export function encodeBatch(spans: readonly Span[], opts: EncoderOptions, env = envelope(opts)): string {
  let body = env.head;
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) body += ',';
    body += encodeSpan(spans[i]!, opts);
  }
  return body + env.tail;
}
