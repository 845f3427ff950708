// OTLP/JSON encoder: one ExportTraceServiceRequest per batch, built by string concatenation in a
// single pass (no intermediate objects). Rules (OTLP's proto3 JSON mapping): lowerCamelCase
// keys, ids as lowercase hex, enums as integers, 64-bit integers as decimal strings, fields at
// their default value omitted, strings made well-formed UTF-16 first.
//
// Cost: a string that needs no escaping (printable ASCII without '"' or '\', nearly every
// string a tracer sees) is quoted as it is, after one table-driven scan; names and attribute
// keys repeat from span to span and are looked up, not re-encoded. Bytes: each span's JSON is
// written into one buffer as soon as it is built (Latin-1 copy when all of it is ASCII), rather
// than flattening and UTF-8-encoding one huge string at the end.
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

/** 1 for every code unit below 128 that JSON must escape (controls, '"', '\'), 0 otherwise. */
const ESCAPE = new Uint8Array(128);
for (let c = 0; c < 32; c++) ESCAPE[c] = 1;
ESCAPE[34] = ESCAPE[92] = 1;

/** Set when a string with a code unit >= 128 was encoded: the bytes then need UTF-8, not Latin-1. */
let sawNonAscii = false;

/** True when s is printable ASCII without '"' or '\': its JSON literal is s in quotes. */
function isPlain(s: string): boolean {
  // Branch-free: one table lookup per code unit, whatever the text.
  let odd = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    odd |= c < 128 ? ESCAPE[c]! : 1;
  }
  return odd === 0;
}

function escaped(s: string): string {
  const json = JSON.stringify(wellFormed(s));
  if (!sawNonAscii && /[^\0-\x7f]/.test(json)) sawNonAscii = true;
  return json;
}

/** A JSON string literal of s, well-formed. */
export function jsonString(s: string): string {
  return isPlain(s) ? '"' + s + '"' : escaped(s);
}

/** Plain strings that repeat from span to span (names, attribute keys), in quotes. */
const repeated = new Map<string, string>();

/** jsonString for strings likely to repeat: a lookup instead of a scan. Bounded: cleared when full. */
function cachedString(s: string): string {
  let json = repeated.get(s);
  if (json !== undefined) return json;
  if (!isPlain(s)) return escaped(s);
  if (repeated.size >= 1024) repeated.clear();
  json = '"' + s + '"';
  repeated.set(s, json);
  return json;
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

/** Per attribute key: `{"key":<key>,"value":` and the same followed by `{"stringValue":"`. */
interface KeyHead {
  any: string;
  str: string;
}
const keyHeads = new Map<string, KeyHead>();

function keyHead(k: string): KeyHead {
  let h = keyHeads.get(k);
  if (h === undefined) {
    const any = '{"key":' + jsonString(k) + ',"value":';
    h = { any, str: any + '{"stringValue":"' };
    // Only plain keys are kept, so a cached head never hides non-ASCII from the byte writer.
    if (isPlain(k)) {
      if (keyHeads.size >= 1024) keyHeads.clear();
      keyHeads.set(k, h);
    }
  }
  return h;
}

/**
 * The items of `"attributes":[...]` for a flat key/value list ('' when none can be encoded).
 * `known` is a string already known to be plain (the span's own trace UUID and caller id).
 */
function attributeItems(attrs: readonly unknown[], limit: number, known1: string, known2: string): string {
  let out = '';
  for (let i = 0; i < attrs.length; i += 2) {
    const k = attrs[i];
    const v = attrs[i + 1];
    const head = keyHead(typeof k === 'string' ? k : String(k));
    let kv: string;
    if (typeof v === 'string' && v.length <= limit && (v === known1 || v === known2 || isPlain(v))) {
      kv = head.str + v + '"}}';
    } else {
      const value = anyValue(v, limit);
      if (value === null) continue;
      kv = head.any + value + '}';
    }
    out = out === '' ? kv : out + ',' + kv;
  }
  return out;
}

function attributes(attrs: readonly unknown[], limit: number): string {
  const items = attributeItems(attrs, limit, '', '');
  return items ? '"attributes":[' + items + ']' : '';
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

// The run of fields from flags to startTimeUnixNano's opening quote repeats for every span of a
// route: kept for the last (flags, name, kind, limit) seen.
let headFlags = -1;
let headKind = -1;
let headLimit = -1;
let headName = '';
let headText = '';
let headNonAscii = false;

function middle(s: Span, limit: number): string {
  if (s.name !== headName || s.flags !== headFlags || s.kind !== headKind || limit !== headLimit) {
    const before = sawNonAscii;
    sawNonAscii = false;
    const name = s.name.length <= limit ? cachedString(s.name) : jsonString(truncate(s.name, limit));
    headText = '","flags":' + s.flags + ',"name":' + name + (s.kind ? ',"kind":' + s.kind : '') + ',"startTimeUnixNano":"';
    headNonAscii = sawNonAscii;
    sawNonAscii = before;
    headName = s.name;
    headFlags = s.flags;
    headKind = s.kind;
    headLimit = limit;
  }
  if (headNonAscii) sawNonAscii = true;
  return headText;
}

/** One span's JSON object, fields in the proto's declaration order, defaults omitted. */
export function encodeSpan(s: Span, opts: EncoderOptions): string {
  const limit = opts.valueLengthLimit;
  // The trace id arrives as a UUID on the request path: its hex is cut here, not stored.
  const u = s.uuidId;
  let out =
    (s.hexId !== '' ? '{"traceId":"' + s.hexId : '{"traceId":"' + u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24)) +
    '","spanId":"' + s.spanId +
    (s.parentSpanId ? '","parentSpanId":"' + s.parentSpanId : '') +
    middle(s, limit) + epochNanos(opts.clock, s.start) +
    '","endTimeUnixNano":"' + epochNanos(opts.clock, s.end);
  const items = attributeItems(s.attrs, limit, u, s.callerId);
  out = items === '' ? out + '"' : out + '","attributes":[' + items + ']';
  if (s.events !== null && s.events.length > 0) out += ',"events":[' + events(s.events, opts) + ']';
  if (s.statusCode !== 0) {
    out += s.statusMessage
      ? ',"status":{"message":' + jsonString(truncate(s.statusMessage, limit)) + ',"code":' + s.statusCode + '}}'
      : s.statusCode === 1
        ? ',"status":{"code":1}}'
        : ',"status":{"code":' + s.statusCode + '}}';
    return out;
  }
  return out + '}';
}

export interface Envelope {
  head: string;
  tail: string;
}

/**
 * The constant head and tail around a batch's spans: resource and scope are the same for every
 * payload of a tracer, so they are encoded once.
 */
export function envelope(opts: EncoderOptions): Envelope {
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

/** The whole ExportTraceServiceRequest for a batch, as a string. */
export function encodeBatch(spans: readonly Span[], opts: EncoderOptions, env = envelope(opts)): string {
  let body = env.head;
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) body += ',';
    body += encodeSpan(spans[i]!, opts);
  }
  return body + env.tail;
}

type NodeBuffer = Uint8Array & { write(s: string, offset: number, encoding: 'latin1' | 'utf8'): number };
type BufferClass = { allocUnsafe(n: number): NodeBuffer };
/** Node's and Bun's Buffer, when there: its Latin-1 write is a plain copy. Feature-detected, never required. */
const NodeBuffer = (globalThis as { Buffer?: BufferClass }).Buffer;
const utf8 = new TextEncoder();

/** Bytes per span of the largest batch so far: the first guess at a buffer's size. */
let bytesPerSpan = 600;

/**
 * The batch's request body as UTF-8 bytes, exactly `TextEncoder.encode(encodeBatch(...))`.
 * Each span's JSON goes into the buffer as soon as it is built, while it is hot (a Latin-1 copy
 * when it is all ASCII, the usual case), instead of one huge string flattened at the end.
 */
export function encodeBatchBytes(spans: readonly Span[], opts: EncoderOptions, env: Envelope = envelope(opts)): Uint8Array {
  const B = NodeBuffer;
  const alloc = (n: number): NodeBuffer | Uint8Array => (B ? B.allocUnsafe(n) : new Uint8Array(n));
  let buf = alloc(env.head.length * 3 + env.tail.length + spans.length * bytesPerSpan + 64);
  let at = put(buf, 0, env.head);
  for (let i = 0; i < spans.length; i++) {
    sawNonAscii = false;
    const json = encodeSpan(spans[i]!, opts);
    // A comma, the span at up to 3 bytes per code unit, the tail: grow (rarely) before writing.
    const room = 1 + json.length * (sawNonAscii ? 3 : 1) + env.tail.length;
    if (at + room > buf.length) {
      const bigger = alloc(Math.max(buf.length * 2, at + room + (spans.length - i) * bytesPerSpan));
      bigger.set(buf.subarray(0, at));
      buf = bigger;
    }
    if (i > 0) buf[at++] = 44; // ','
    at += sawNonAscii || !B ? utf8.encodeInto(json, buf.subarray(at)).written : (buf as NodeBuffer).write(json, at, 'latin1');
  }
  at += put(buf, at, env.tail);
  if (spans.length > 0) bytesPerSpan = Math.max(bytesPerSpan, Math.ceil(at / spans.length));
  return buf.subarray(0, at);
}

/** Writes s (any text) at `at`; the buffer has room for its UTF-8. */
function put(buf: Uint8Array, at: number, s: string): number {
  return utf8.encodeInto(s, buf.subarray(at)).written;
}
