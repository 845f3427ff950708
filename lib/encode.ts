// OTLP/JSON encoder: one ExportTraceServiceRequest per batch, written as UTF-8 bytes straight
// into the request body in a single pass (no intermediate objects, no strings per span).
// Rules (OTLP's proto3 JSON mapping): lowerCamelCase keys, ids as lowercase hex, enums as
// integers, 64-bit integers as decimal strings, fields at their default value omitted,
// strings made well-formed UTF-16 first.
//
// Why bytes: building each span as a JS string and converting it costs more than the building
// (V8 flattens the rope into a copy, then copies it again) and leaves ~1.5 KB of garbage per
// span for the young-generation GC. Here ids, digits and plain strings (printable ASCII without
// '"' or '\': nearly all a tracer sees) are copied code unit by code unit; constant fragments,
// attribute keys and the name/flags/kind run are pre-encoded once. Anything else (escapes,
// non-ASCII, arrays, numbers, events) goes through the string helpers and TextEncoder.
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

/** A JSON string literal of s, well-formed. */
export function jsonString(s: string): string {
  return isPlain(s) ? '"' + s + '"' : JSON.stringify(wellFormed(s));
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

/** `"attributes":[...]` as a string (resource, events), or '' when none can be encoded. */
function attributesText(attrs: readonly unknown[], limit: number): string {
  let out = '';
  for (let i = 0; i < attrs.length; i += 2) {
    const value = anyValue(attrs[i + 1], limit);
    if (value === null) continue;
    const kv = '{"key":' + jsonString(String(attrs[i])) + ',"value":' + value + '}';
    out += out ? ',' + kv : kv;
  }
  return out ? '"attributes":[' + out + ']' : '';
}

function eventsText(list: SpanEvent[], opts: EncoderOptions): string {
  let out = '';
  for (const e of list) {
    const attrs = attributesText(e.attrs, opts.valueLengthLimit);
    out +=
      (out ? ',' : '') +
      '{"timeUnixNano":"' + epochNanos(opts.clock, e.time) + '","name":' + jsonString(e.name) +
      (attrs ? ',' + attrs : '') + '}';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The byte writer: `buf` is the body being written, `pos` the next free byte. Writers that take
// no care of room are called after room() made sure of it. Per-byte JavaScript loops are kept
// for short runs; constant fragments go in with one native copy (TypedArray#set), and so do
// long ASCII strings where Node's/Bun's Buffer offers a Latin-1 write (feature-detected).

type NodeBuffer = Uint8Array & { latin1Write(s: string, offset: number): number };
const NodeBuffer = (globalThis as unknown as { Buffer?: { allocUnsafe?(n: number): NodeBuffer } }).Buffer;
const fastAlloc = typeof NodeBuffer?.allocUnsafe === 'function' && typeof NodeBuffer.allocUnsafe(1).latin1Write === 'function';
const alloc = (n: number): Uint8Array => (fastAlloc ? NodeBuffer!.allocUnsafe!(n) : new Uint8Array(n));

/** The whole buffer behind a body, to encode a later batch into; undefined when it is not worth keeping. */
export function reusableBuffer(body: Uint8Array): Uint8Array | undefined {
  // Small ones may live in Node's shared 8 KB slab: never hand those out again.
  if (body.byteOffset !== 0 || body.buffer.byteLength < 65_536) return undefined;
  const ab = body.buffer as ArrayBuffer;
  return fastAlloc ? (globalThis as unknown as { Buffer: { from(a: ArrayBuffer): Uint8Array } }).Buffer.from(ab) : new Uint8Array(ab);
}

const utf8 = new TextEncoder();
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;

function room(n: number): void {
  if (pos + n > buf.length) {
    const bigger = alloc(Math.max(buf.length * 2, pos + n + 4096));
    bigger.set(buf.subarray(0, pos));
    buf = bigger;
  }
}

/** Pre-encoded bytes (a constant fragment): one native copy. */
function bytes(c: Uint8Array): void {
  buf.set(c, pos);
  pos += c.length;
}

/** An ASCII string known to need no escaping (ids, digits, a validated UUID). */
function asciiKnown(s: string): void {
  if (fastAlloc && s.length > 24) {
    pos += (buf as NodeBuffer).latin1Write(s, pos);
    return;
  }
  const b = buf;
  const p = pos;
  for (let i = 0; i < s.length; i++) b[p + i] = s.charCodeAt(i);
  pos = p + s.length;
}

/** Text as UTF-8: copied as it is when ASCII, else through TextEncoder. */
function text(s: string): void {
  room(s.length * 3);
  const b = buf;
  const p = pos;
  let high = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    high |= c;
    b[p + i] = c;
  }
  pos = high < 128 ? p + s.length : p + utf8.encodeInto(s, b.subarray(p)).written;
}

/**
 * The inside of s's JSON literal when s is plain (true), else nothing written (false).
 * Needs room for s.length bytes.
 */
function plain(s: string): boolean {
  const b = buf;
  const p = pos;
  let odd = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    odd |= c < 128 ? ESCAPE[c]! : 1;
    b[p + i] = c;
  }
  if (odd !== 0) return false;
  pos = p + s.length;
  return true;
}

/** s as a JSON string literal. */
function str(s: string): void {
  room(s.length + 2);
  buf[pos++] = 34;
  if (plain(s)) buf[pos++] = 34;
  else {
    pos--;
    text(JSON.stringify(wellFormed(s)));
  }
}

/** The 32 hex of a canonical UUID: the UUID without its hyphens. Needs room for 32 bytes. */
function hexOfUuid(u: string): void {
  const b = buf;
  let p = pos;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    b[p++] = u.charCodeAt(i);
  }
  pos = p;
}

/** Whole epoch seconds of the last timestamp written, and their digits. */
let lastSec = -1;
let lastSecDigits = new Uint8Array(0);

/** Decimal epoch nanoseconds of a clock reading (as epochNanos), without building a string. */
function nanos(clock: Clock, t: number): void {
  const whole = Math.floor(t / 1e9);
  let rest = t - whole * 1e9; // 0 <= rest < 1e9: fits an int32
  const sec = clock.baseSec + whole;
  if (sec !== lastSec) {
    lastSec = sec;
    lastSecDigits = utf8.encode(String(sec));
  }
  room(lastSecDigits.length + 9);
  bytes(lastSecDigits);
  const b = buf;
  const p = pos;
  for (let i = 8; i >= 0; i--) {
    const q = (rest / 10) | 0;
    b[p + i] = 48 + rest - q * 10;
    rest = q;
  }
  pos = p + 9;
}

const ascii = (s: string): Uint8Array => utf8.encode(s);
const TRACE_ID = ascii('{"traceId":"');
const SPAN_ID = ascii('","spanId":"');
const PARENT_SPAN_ID = ascii('","parentSpanId":"');
const END_TIME = ascii('","endTimeUnixNano":"');
const STRING_VALUE = ascii('{"stringValue":');
const STRING_END = ascii('"}}');
const STATUS_OK = ascii(',"status":{"code":1}}');

/**
 * Per attribute key, as bytes: `{"key":<key>,"value":` (any value), and the same followed by
 * `{"stringValue":"` (a plain string value), each with the separator before it: the span's
 * `","attributes":[` for the first item, `,` for the others.
 */
interface KeyHead {
  firstAny: Uint8Array;
  firstStr: Uint8Array;
  nextAny: Uint8Array;
  nextStr: Uint8Array;
}
const keyHeads = new Map<string, KeyHead>();

function keyHead(k: string): KeyHead {
  let h = keyHeads.get(k);
  if (h === undefined) {
    const any = '{"key":' + jsonString(k) + ',"value":';
    const str = any + '{"stringValue":"';
    h = {
      firstAny: utf8.encode('","attributes":[' + any),
      firstStr: utf8.encode('","attributes":[' + str),
      nextAny: utf8.encode(',' + any),
      nextStr: utf8.encode(',' + str),
    };
    if (keyHeads.size >= 1024) keyHeads.clear(); // keys are few; a bound all the same
    keyHeads.set(k, h);
  }
  return h;
}

// The last key seen at each of the first attribute positions and its head: a pointer compare
// instead of a Map lookup for the usual span, whose keys are the same literals every time.
const SLOTS = 8;
const slotKey: unknown[] = new Array<unknown>(SLOTS).fill(undefined);
const slotHead: (KeyHead | undefined)[] = new Array<KeyHead | undefined>(SLOTS).fill(undefined);

/**
 * A span's attributes, from `","attributes":[` to `]`; false when none could be encoded
 * (nothing written). `known1`/`known2` are strings already known to be plain: the span's trace
 * UUID and caller id, validated on the request path.
 */
function attributeItems(attrs: readonly unknown[], limit: number, known1: string, known2: string): boolean {
  let any = false;
  for (let i = 0; i < attrs.length; i += 2) {
    const k = attrs[i];
    const v = attrs[i + 1];
    const slot = i >> 1;
    let head: KeyHead;
    if (slot < SLOTS && slotKey[slot] === k) head = slotHead[slot]!;
    else {
      head = keyHead(typeof k === 'string' ? k : String(k));
      if (slot < SLOTS) {
        slotKey[slot] = k;
        slotHead[slot] = head;
      }
    }
    if (typeof v === 'string' && v.length <= limit) {
      const open = any ? head.nextStr : head.firstStr;
      room(open.length + v.length + STRING_END.length);
      const mark = pos;
      bytes(open);
      if (v === known1 || v === known2) asciiKnown(v);
      else if (!plain(v)) {
        pos = mark;
        bytes(any ? head.nextAny : head.firstAny);
        bytes(STRING_VALUE);
        str(v);
        room(2);
        buf[pos++] = 125; // '}}'
        buf[pos++] = 125;
        any = true;
        continue;
      }
      bytes(STRING_END);
    } else {
      const value = anyValue(v, limit);
      if (value === null) continue;
      const open = any ? head.nextAny : head.firstAny;
      room(open.length);
      bytes(open);
      text(value);
      room(1);
      buf[pos++] = 125; // '}'
    }
    any = true;
  }
  return any;
}

const REQ_TRACE_ID = ascii('","attributes":[{"key":"request.trace_id","value":{"stringValue":"');
const REQ_SPAN_ID = ascii('"}},{"key":"request.span_id","value":{"stringValue":"');
const REQ_ROUTE_KEY = ascii('"}},{"key":"request.route_key","value":{"stringValue":');

/** A request span's three standard attributes, written from its fields (see Span.attrs). */
function requestItems(s: Span, limit: number): boolean {
  const uuid = s.traceUuid; // validated canonical UUID on the request path: plain
  room(REQ_TRACE_ID.length + 36 + REQ_SPAN_ID.length + 16 + REQ_ROUTE_KEY.length);
  bytes(REQ_TRACE_ID);
  asciiKnown(uuid);
  if (s.callerId !== '') {
    bytes(REQ_SPAN_ID);
    asciiKnown(s.callerId);
  }
  bytes(REQ_ROUTE_KEY);
  str(truncate(s.name, limit));
  room(2);
  buf[pos++] = 125; // '}}'
  buf[pos++] = 125;
  return true;
}

// The run from flags to startTimeUnixNano's opening quote repeats for every span of a route:
// kept, as bytes, for the last (flags, name, kind, limit) seen.
let midFlags = -1;
let midKind = -1;
let midLimit = -1;
let midName = '';
let midBytes = new Uint8Array(0);

function middle(s: Span, limit: number): Uint8Array {
  if (s.name !== midName || s.flags !== midFlags || s.kind !== midKind || limit !== midLimit) {
    midBytes = utf8.encode(
      '","flags":' + s.flags + ',"name":' + jsonString(truncate(s.name, limit)) + (s.kind ? ',"kind":' + s.kind : '') + ',"startTimeUnixNano":"',
    );
    midName = s.name;
    midFlags = s.flags;
    midKind = s.kind;
    midLimit = limit;
  }
  return midBytes;
}

// The usual span (a request span with a caller, its three standard attributes, status OK) has,
// for a given route, the same bytes everywhere but at fixed places: the ids, the two timestamps
// (19 digits until the year 2286), the UUID and the caller id. Such a span is one copy of a
// per-route template and seven short overwrites.
interface Template {
  name: string;
  flags: number;
  kind: number;
  limit: number;
  bytes: Uint8Array;
  trace: number;
  span: number;
  parent: number;
  start: number;
  end: number;
  uuid: number;
  caller: number;
}

const templates = new Map<string, Template>();
let lastTemplate: Template | undefined;

function template(s: Span, limit: number): Template {
  const t = lastTemplate;
  if (t !== undefined && t.name === s.name && t.flags === s.flags && t.kind === s.kind && t.limit === limit) return t;
  const cached = templates.get(s.name);
  if (cached !== undefined && cached.flags === s.flags && cached.kind === s.kind && cached.limit === limit) return (lastTemplate = cached);
  const name = jsonString(truncate(s.name, limit));
  const parts = [
    '{"traceId":"', '0'.repeat(32),
    '","spanId":"', '0'.repeat(16),
    '","parentSpanId":"', '0'.repeat(16),
    '","flags":' + s.flags + ',"name":' + name + (s.kind ? ',"kind":' + s.kind : '') + ',"startTimeUnixNano":"', '0'.repeat(19),
    '","endTimeUnixNano":"', '0'.repeat(19),
    '","attributes":[{"key":"request.trace_id","value":{"stringValue":"', '0'.repeat(36),
    '"}},{"key":"request.span_id","value":{"stringValue":"', '0'.repeat(16),
    '"}},{"key":"request.route_key","value":{"stringValue":' + name + '}}],"status":{"code":1}}',
  ];
  // Byte offsets of the variable parts (odd indexes), counted in UTF-8 (a name may be non-ASCII).
  const at: number[] = [];
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 1) at.push(off);
    off += utf8.encode(parts[i]!).length;
  }
  const made: Template = {
    name: s.name, flags: s.flags, kind: s.kind, limit,
    bytes: utf8.encode(parts.join('')),
    trace: at[0]!, span: at[1]!, parent: at[2]!, start: at[3]!, end: at[4]!, uuid: at[5]!, caller: at[6]!,
  };
  if (templates.size >= 256) templates.clear(); // routes are few; a bound all the same
  templates.set(s.name, made);
  return (lastTemplate = made);
}

/** `n` ASCII characters of s at byte offset `at` of buf. */
function put(s: string, at: number, n: number): void {
  const b = buf;
  for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
}

/** 19 digits of epoch nanoseconds at byte offset `at` (seconds must have 10 digits). */
function putNanos(clock: Clock, t: number, at: number): void {
  const whole = Math.floor(t / 1e9);
  let rest = t - whole * 1e9;
  const sec = clock.baseSec + whole;
  if (sec !== lastSec) {
    lastSec = sec;
    lastSecDigits = utf8.encode(String(sec));
  }
  const b = buf;
  const d = lastSecDigits;
  for (let i = 0; i < 10; i++) b[at + i] = d[i]!;
  for (let i = 18; i >= 10; i--) {
    const q = (rest / 10) | 0;
    b[at + i] = 48 + rest - q * 10;
    rest = q;
  }
}

const TEN_DIGIT_SECONDS_MIN = 1_000_000_000;
const TEN_DIGIT_SECONDS_MAX = 9_999_999_999;

/** Writes the usual span from its route's template; false when s is not such a span. */
function templated(s: Span, opts: EncoderOptions): boolean {
  if (s.attrs !== null || s.events !== null || s.statusCode !== 1 || s.statusMessage !== '' || s.callerId === '' || s.parentSpanId !== s.callerId) return false;
  if (opts.valueLengthLimit < 36) return false;
  const base = opts.clock.baseSec;
  if (base < TEN_DIGIT_SECONDS_MIN || base + Math.floor(s.end / 1e9) > TEN_DIGIT_SECONDS_MAX) return false;
  const uuid = s.traceUuid;
  const t = template(s, opts.valueLengthLimit);
  const n = t.bytes.length;
  room(n);
  const p = pos;
  buf.set(t.bytes, p);
  if (s.tid.length === 32) put(s.tid, p + t.trace, 32);
  else {
    const b = buf;
    let q = p + t.trace;
    for (let i = 0; i < 36; i++) if (i !== 8 && i !== 13 && i !== 18 && i !== 23) b[q++] = uuid.charCodeAt(i);
  }
  put(s.spanId, p + t.span, 16);
  put(s.parentSpanId, p + t.parent, 16);
  putNanos(opts.clock, s.start, p + t.start);
  putNanos(opts.clock, s.end, p + t.end);
  put(uuid, p + t.uuid, 36);
  put(s.callerId, p + t.caller, 16);
  pos = p + n;
  return true;
}

/** One span's JSON object, fields in the proto's declaration order, defaults omitted. */
function writeSpan(s: Span, opts: EncoderOptions): void {
  s.resolve();
  if (templated(s, opts)) return;
  const limit = opts.valueLengthLimit;
  const mid = middle(s, limit);
  const spanId = s.spanId;
  const parent = s.parentSpanId;
  room(TRACE_ID.length + 32 + SPAN_ID.length + spanId.length + PARENT_SPAN_ID.length + parent.length + mid.length + END_TIME.length);
  bytes(TRACE_ID);
  // The request path keeps the trace id as the span_key's UUID; its hex is written here.
  if (s.tid.length === 32) asciiKnown(s.tid);
  else hexOfUuid(s.tid);
  bytes(SPAN_ID);
  asciiKnown(spanId);
  if (parent) {
    bytes(PARENT_SPAN_ID);
    asciiKnown(parent);
  }
  bytes(mid);
  nanos(opts.clock, s.start);
  room(END_TIME.length);
  bytes(END_TIME);
  nanos(opts.clock, s.end);
  // Below 36 code units the UUID attribute itself is cut: the general writer does that.
  if (s.attrs === null && limit >= 36 ? requestItems(s, limit) : attributeItems(s.attributes(), limit, s.tid, s.callerId)) {
    room(1);
    buf[pos++] = 93; // ']'
  } else {
    room(1);
    buf[pos++] = 34; // '"'
  }
  if (s.events !== null && s.events.length > 0) text(',"events":[' + eventsText(s.events, opts) + ']');
  if (s.statusCode === 1 && !s.statusMessage) {
    room(STATUS_OK.length);
    bytes(STATUS_OK);
    return;
  }
  if (s.statusCode !== 0) {
    text(
      s.statusMessage
        ? ',"status":{"message":' + jsonString(truncate(s.statusMessage, limit)) + ',"code":' + s.statusCode + '}'
        : ',"status":{"code":' + s.statusCode + '}',
    );
  }
  room(1);
  buf[pos++] = 125; // '}'
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
  const resAttrs = attributesText(res, opts.valueLengthLimit);
  const scope =
    '{"name":' + jsonString(opts.scopeName) + (opts.scopeVersion ? ',"version":' + jsonString(opts.scopeVersion) : '') + '}';
  return {
    head: '{"resourceSpans":[{"resource":{' + resAttrs + '},"scopeSpans":[{"scope":' + scope + ',"spans":[',
    tail: ']}]}]}',
  };
}

/** Bytes per span of the largest batch so far: the first guess at a body's size. */
let bytesPerSpan = 512;

/** The batch's request body: the ExportTraceServiceRequest as UTF-8 bytes. */
export function encodeBatchBytes(spans: readonly Span[], opts: EncoderOptions, env: Envelope = envelope(opts), pool?: Uint8Array[]): Uint8Array {
  // Re-entrant all the same (an attribute key's toString could flush a tracer): keep the caller's state.
  const outerBuf = buf;
  const outerPos = pos;
  // A buffer of its own per batch (the exporter keeps the body until it is delivered): a free one
  // from the pool when the caller keeps one, else a new one.
  const want = env.head.length * 3 + env.tail.length + spans.length * (bytesPerSpan + 1);
  let free: Uint8Array | undefined;
  if (pool !== undefined) {
    for (let i = 0; i < pool.length; i++) {
      if (pool[i]!.length >= want) {
        free = pool[i];
        pool.splice(i, 1);
        break;
      }
    }
  }
  buf = free ?? alloc(want);
  pos = 0;
  text(env.head);
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) {
      room(1);
      buf[pos++] = 44; // ','
    }
    writeSpan(spans[i]!, opts);
  }
  text(env.tail);
  const body = buf.subarray(0, pos);
  if (spans.length > 0) bytesPerSpan = Math.max(bytesPerSpan, Math.ceil(pos / spans.length));
  buf = outerBuf; // nothing is held between batches
  pos = outerPos;
  return body;
}

const fromUtf8 = new TextDecoder();

/** One span's JSON object, as a string (tests, tools; the exporter uses encodeBatchBytes). */
export function encodeSpan(s: Span, opts: EncoderOptions): string {
  const outerBuf = buf;
  const outerPos = pos;
  buf = alloc(1024);
  pos = 0;
  writeSpan(s, opts);
  const json = fromUtf8.decode(buf.subarray(0, pos));
  buf = outerBuf;
  pos = outerPos;
  return json;
}

/** The whole ExportTraceServiceRequest for a batch, as a string. */
export function encodeBatch(spans: readonly Span[], opts: EncoderOptions, env = envelope(opts)): string {
  return fromUtf8.decode(encodeBatchBytes(spans, opts, env));
}
