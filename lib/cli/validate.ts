// Checks a parsed OTLP/HTTP JSON body against the trace schema: an ExportTraceServiceRequest
// (opentelemetry/proto/collector/trace/v1/trace_service.proto and the messages it uses) in
// the proto3 JSON mapping with OTLP's rules. Used by the `receive` and `show` commands.
//
// What is accepted, and why:
// - field names in lowerCamelCase (what OTLP senders write) or the proto's own snake_case
//   names (what any proto3 JSON parser accepts); the same field under both names is an error;
// - `null` for a field means "not set" (proto3 JSON), but never inside an array;
// - trace/span ids as hex of the exact length, either case (OTLP/JSON, not base64);
// - 64-bit integers as decimal strings or JSON integers; 32-bit integers as JSON integers or
//   decimal strings; enums as integers or as their proto names ("SPAN_KIND_SERVER");
// - doubles as JSON numbers or the strings "NaN", "Infinity", "-Infinity" or a decimal;
// - bytes as base64 (standard or URL-safe alphabet, padding optional);
// - an AnyValue with at most one value field set: the proto says an AnyValue with none is
//   valid ("empty"), and the official JS SDK sends `{}` for a null attribute value.
// What is rejected beyond plain types, because the proto says MUST / invalid:
// - unknown field names (this is a checker for senders under development, so it is stricter
//   than a production collector, which ignores unknown fields for forward compatibility);
// - a trace or span id (of a span or a link) that is empty or all zeros; a parentSpanId
//   that is neither empty nor 16 hex (all zeros is read as "no parent");
// - a span without start or end time, or ending before it starts;
// - two attributes with the same key in one list;
// - strings with a lone UTF-16 surrogate (protobuf strings are UTF-8);
// - values nested deeper than MAX_DEPTH (protobuf parsers have a recursion limit too).

import { describeValue } from '../util/text.js';

export type ValidationResult = { ok: true; spans: number } | { ok: false; reason: string };

const MAX_DEPTH = 100;

type Scalar =
  | 'string'
  | 'bool'
  | 'int32'
  | 'uint32'
  | 'fixed32'
  | 'int64'
  | 'fixed64'
  | 'double'
  | 'bytes'
  | 'traceId'
  | 'spanId'
  | 'parentSpanId';

interface EnumType {
  enum: string;
  names: readonly string[];
}

interface FieldSpec {
  type: Scalar | EnumType | (() => MessageSpec);
  repeated?: boolean;
  required?: string; // why it is required, for the message
}

interface MessageSpec {
  name: string;
  fields: Record<string, FieldSpec>;
  oneof?: readonly string[]; // at most one of these may be set
  check?: (obj: Record<string, unknown>, path: string, ctx: Ctx) => void;
}

const SPAN_KIND: EnumType = {
  enum: 'SpanKind',
  names: [
    'SPAN_KIND_UNSPECIFIED',
    'SPAN_KIND_INTERNAL',
    'SPAN_KIND_SERVER',
    'SPAN_KIND_CLIENT',
    'SPAN_KIND_PRODUCER',
    'SPAN_KIND_CONSUMER',
  ],
};

const STATUS_CODE: EnumType = {
  enum: 'StatusCode',
  names: ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'],
};

const KeyValue: MessageSpec = {
  name: 'KeyValue',
  fields: {
    key: { type: 'string' },
    value: { type: () => AnyValue },
    keyStrindex: { type: 'int32' },
  },
};

const AnyValue: MessageSpec = {
  name: 'AnyValue',
  fields: {
    stringValue: { type: 'string' },
    boolValue: { type: 'bool' },
    intValue: { type: 'int64' },
    doubleValue: { type: 'double' },
    arrayValue: { type: () => ArrayValue },
    kvlistValue: { type: () => KeyValueList },
    bytesValue: { type: 'bytes' },
    stringValueStrindex: { type: 'int32' },
  },
  oneof: [
    'stringValue',
    'boolValue',
    'intValue',
    'doubleValue',
    'arrayValue',
    'kvlistValue',
    'bytesValue',
    'stringValueStrindex',
  ],
};

const ArrayValue: MessageSpec = {
  name: 'ArrayValue',
  fields: { values: { type: () => AnyValue, repeated: true } },
};

const KeyValueList: MessageSpec = {
  name: 'KeyValueList',
  fields: { values: { type: () => KeyValue, repeated: true } },
  check: (obj, path, ctx) => uniqueKeys(obj, 'values', path, ctx),
};

const EntityRef: MessageSpec = {
  name: 'EntityRef',
  fields: {
    schemaUrl: { type: 'string' },
    type: { type: 'string' },
    idKeys: { type: 'string', repeated: true },
    descriptionKeys: { type: 'string', repeated: true },
  },
};

const Resource: MessageSpec = {
  name: 'Resource',
  fields: {
    attributes: { type: () => KeyValue, repeated: true },
    droppedAttributesCount: { type: 'uint32' },
    entityRefs: { type: () => EntityRef, repeated: true },
  },
  check: (obj, path, ctx) => uniqueKeys(obj, 'attributes', path, ctx),
};

const InstrumentationScope: MessageSpec = {
  name: 'InstrumentationScope',
  fields: {
    name: { type: 'string' },
    version: { type: 'string' },
    attributes: { type: () => KeyValue, repeated: true },
    droppedAttributesCount: { type: 'uint32' },
  },
  check: (obj, path, ctx) => uniqueKeys(obj, 'attributes', path, ctx),
};

const Status: MessageSpec = {
  name: 'Status',
  fields: {
    message: { type: 'string' },
    code: { type: STATUS_CODE },
  },
};

const Event: MessageSpec = {
  name: 'Event',
  fields: {
    timeUnixNano: { type: 'fixed64' },
    name: { type: 'string' },
    attributes: { type: () => KeyValue, repeated: true },
    droppedAttributesCount: { type: 'uint32' },
  },
  check: (obj, path, ctx) => uniqueKeys(obj, 'attributes', path, ctx),
};

const Link: MessageSpec = {
  name: 'Link',
  fields: {
    traceId: { type: 'traceId', required: 'a link needs a trace id' },
    spanId: { type: 'spanId', required: 'a link needs a span id' },
    traceState: { type: 'string' },
    attributes: { type: () => KeyValue, repeated: true },
    droppedAttributesCount: { type: 'uint32' },
    flags: { type: 'fixed32' },
  },
  check: (obj, path, ctx) => uniqueKeys(obj, 'attributes', path, ctx),
};

const Span: MessageSpec = {
  name: 'Span',
  fields: {
    traceId: { type: 'traceId', required: 'a span needs a trace id' },
    spanId: { type: 'spanId', required: 'a span needs a span id' },
    traceState: { type: 'string' },
    parentSpanId: { type: 'parentSpanId' },
    flags: { type: 'fixed32' },
    name: { type: 'string' },
    kind: { type: SPAN_KIND },
    startTimeUnixNano: { type: 'fixed64', required: 'a span needs a start time' },
    endTimeUnixNano: { type: 'fixed64', required: 'a span needs an end time' },
    attributes: { type: () => KeyValue, repeated: true },
    droppedAttributesCount: { type: 'uint32' },
    events: { type: () => Event, repeated: true },
    droppedEventsCount: { type: 'uint32' },
    links: { type: () => Link, repeated: true },
    droppedLinksCount: { type: 'uint32' },
    status: { type: () => Status },
  },
  check: (obj, path, ctx) => {
    uniqueKeys(obj, 'attributes', path, ctx);
    const start = field(obj, 'startTimeUnixNano');
    const end = field(obj, 'endTimeUnixNano');
    const s = toBigInt(start.value);
    const e = toBigInt(end.value);
    if (s === 0n) fail(`${path}.${start.name}`, 'must not be 0 (a span needs a start time)');
    if (e === 0n) fail(`${path}.${end.name}`, 'must not be 0 (a span needs an end time)');
    if (s !== null && e !== null && e < s) {
      fail(`${path}.${end.name}`, `ends before it starts (${e} < ${s})`);
    }
    ctx.spans++;
  },
};

const ScopeSpans: MessageSpec = {
  name: 'ScopeSpans',
  fields: {
    scope: { type: () => InstrumentationScope },
    spans: { type: () => Span, repeated: true },
    schemaUrl: { type: 'string' },
  },
};

const ResourceSpans: MessageSpec = {
  name: 'ResourceSpans',
  fields: {
    resource: { type: () => Resource },
    scopeSpans: { type: () => ScopeSpans, repeated: true },
    schemaUrl: { type: 'string' },
  },
};

const ExportTraceServiceRequest: MessageSpec = {
  name: 'ExportTraceServiceRequest',
  fields: { resourceSpans: { type: () => ResourceSpans, repeated: true } },
};

interface Ctx {
  spans: number;
  depth: number;
}

class Violation extends Error {}

function fail(path: string, what: string): never {
  throw new Violation(`${path}: ${what}`);
}

/**
 * Checks `doc` (a parsed JSON body) against the OTLP ExportTraceServiceRequest schema.
 * Returns the number of spans when valid, else ONE line naming the first offending path,
 * e.g. `resourceSpans[0].scopeSpans[0].spans[3].spanId: expected 16 hex characters, got "abc"`.
 */
export function validateExportRequest(doc: unknown): ValidationResult {
  if (!isPlainObject(doc)) {
    return {
      ok: false,
      reason: `request body: expected a JSON object (ExportTraceServiceRequest), got ${describeValue(doc)}`,
    };
  }
  const ctx: Ctx = { spans: 0, depth: 0 };
  try {
    checkMessage(doc, ExportTraceServiceRequest, '', ctx);
  } catch (err) {
    if (err instanceof Violation) return { ok: false, reason: err.message };
    throw err;
  }
  return { ok: true, spans: ctx.spans };
}

function checkMessage(obj: Record<string, unknown>, spec: MessageSpec, path: string, ctx: Ctx): void {
  if (++ctx.depth > MAX_DEPTH) fail(path || 'request body', `nested deeper than ${MAX_DEPTH} levels`);
  const seen = new Map<string, string>(); // camel name -> name as written
  const set: string[] = [];
  for (const key of Object.keys(obj)) {
    const camel = toCamel(key);
    const fspec = Object.hasOwn(spec.fields, camel) ? spec.fields[camel] : undefined;
    const fpath = join(path, key);
    if (!fspec || (key !== camel && key !== toSnake(camel))) {
      const hint = suggest(key, spec);
      fail(fpath, `unknown field in ${spec.name}${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
    const before = seen.get(camel);
    if (before !== undefined) fail(fpath, `field given twice, as "${before}" and "${key}"`);
    seen.set(camel, key);
    const value = obj[key];
    if (value === null) continue; // proto3 JSON: null = default value
    set.push(key);
    if (fspec.repeated) {
      if (!Array.isArray(value)) fail(fpath, `expected an array, got ${describeValue(value)}`);
      for (let i = 0; i < value.length; i++) checkValue(value[i], fspec, `${fpath}[${i}]`, ctx);
    } else {
      checkValue(value, fspec, fpath, ctx);
    }
  }
  for (const [name, fspec] of Object.entries(spec.fields)) {
    if (fspec.required && !set.some((k) => toCamel(k) === name)) {
      fail(join(path, seen.get(name) ?? name), `missing (${fspec.required})`);
    }
  }
  if (spec.oneof) {
    const chosen = set.filter((k) => spec.oneof!.includes(toCamel(k)));
    if (chosen.length > 1) {
      fail(
        path,
        `${spec.name} must hold at most one value, got ${chosen.map((k) => `"${k}"`).join(' and ')}`,
      );
    }
  }
  spec.check?.(obj, path, ctx);
  ctx.depth--;
}

function checkValue(value: unknown, fspec: FieldSpec, path: string, ctx: Ctx): void {
  const t = fspec.type;
  if (typeof t === 'function') {
    const spec = t();
    if (!isPlainObject(value)) fail(path, `expected an object (${spec.name}), got ${describeValue(value)}`);
    checkMessage(value, spec, path, ctx);
  } else if (typeof t === 'object') {
    checkEnum(value, t, path);
  } else {
    checkScalar(value, t, path, fspec.required);
  }
}

function checkEnum(value: unknown, t: EnumType, path: string): void {
  const max = t.names.length - 1;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) return;
  if (typeof value === 'string' && t.names.includes(value)) return;
  const expected = `a ${t.enum} as an integer 0..${max} or a name like "${t.names[1]}"`;
  fail(path, `expected ${expected}, got ${describeValue(value)}`);
}

const HEX = /^[0-9a-fA-F]*$/;
const DECIMAL_UNSIGNED = /^[0-9]+$/;
const DECIMAL_SIGNED = /^-?[0-9]+$/;
const DOUBLE_STRING = /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const SPECIAL_DOUBLES = new Set(['NaN', 'Infinity', '-Infinity']);
/** Padded base64 comes in whole groups of 4; unpadded, a last group of 1 character is impossible. */
const base64Length = (value: string): boolean =>
  value.includes('=') ? value.length % 4 === 0 : value.length % 4 !== 1;
const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9\-_]*)={0,2}$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const INT_RANGES = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n, 'a 32-bit integer'],
  uint32: [0n, 2n ** 32n - 1n, 'a non-negative 32-bit integer'],
  fixed32: [0n, 2n ** 32n - 1n, 'a non-negative 32-bit integer'],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, 'an int64'],
  fixed64: [0n, 2n ** 64n - 1n, 'an unsigned 64-bit integer'],
} as const;

function checkScalar(value: unknown, t: Scalar, path: string, required?: string): void {
  switch (t) {
    case 'string':
      checkString(value, path);
      return;
    case 'bool':
      if (typeof value !== 'boolean') fail(path, `expected true or false, got ${describeValue(value)}`);
      return;
    case 'int32':
    case 'uint32':
    case 'fixed32':
    case 'int64':
    case 'fixed64': {
      const [min, max, what] = INT_RANGES[t];
      const wide = t === 'int64' || t === 'fixed64';
      const form = wide ? 'as a decimal string or a JSON integer' : 'as a JSON integer or a decimal string';
      let n: bigint | null = null;
      if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && (min < 0n ? DECIMAL_SIGNED : DECIMAL_UNSIGNED).test(value)) {
        n = BigInt(value);
      }
      if (n === null || n < min || n > max) fail(path, `expected ${what} ${form}, got ${describeValue(value)}`);
      return;
    }
    case 'double':
      if (typeof value === 'number') return;
      if (typeof value === 'string' && (SPECIAL_DOUBLES.has(value) || DOUBLE_STRING.test(value))) return;
      fail(path, `expected a number, got ${describeValue(value)}`);
    // falls through: fail() never returns
    case 'bytes':
      if (typeof value !== 'string' || !BASE64.test(value) || !base64Length(value)) {
        fail(path, `expected base64 bytes, got ${describeValue(value)}`);
      }
      return;
    case 'traceId':
    case 'spanId': {
      const len = t === 'traceId' ? 32 : 16;
      checkHexId(value, len, path);
      if (value === '') fail(path, `expected ${len} hex characters, got "" (${required ?? 'an id must not be empty'})`);
      if (/^0+$/.test(value as string)) {
        fail(path, `must not be all zeros (an invalid ${t === 'traceId' ? 'trace' : 'span'} id)`);
      }
      return;
    }
    case 'parentSpanId':
      checkHexId(value, 16, path, ' (or "" for a root span)');
      return;
  }
}

function checkHexId(value: unknown, len: number, path: string, alt = ''): void {
  if (typeof value !== 'string' || !HEX.test(value) || (value.length !== len && !(alt && value === ''))) {
    fail(path, `expected ${len} hex characters${alt}, got ${describeValue(value)}`);
  }
}

function checkString(value: unknown, path: string): asserts value is string {
  if (typeof value !== 'string') fail(path, `expected a string, got ${describeValue(value)}`);
  const m = LONE_SURROGATE.exec(value);
  if (m) {
    const code = m[0].charCodeAt(0).toString(16).toUpperCase();
    fail(path, `string has a lone UTF-16 surrogate U+${code} at index ${m.index}, which is not valid UTF-8`);
  }
}

function uniqueKeys(obj: Record<string, unknown>, name: string, path: string, _ctx: Ctx): void {
  const { name: written, value } = field(obj, name);
  if (!Array.isArray(value)) return;
  const first = new Map<string, number>();
  value.forEach((kv: unknown, i) => {
    if (!isPlainObject(kv)) return;
    const key = field(kv, 'key').value;
    if (typeof key !== 'string') return;
    const at = first.get(key);
    if (at !== undefined) {
      fail(`${join(path, written)}[${i}].key`, `duplicate key ${JSON.stringify(key)} (also at ${written}[${at}])`);
    }
    first.set(key, i);
  });
}

/** The value of a field under either of its JSON names. */
function field(obj: Record<string, unknown>, camel: string): { name: string; value: unknown } {
  if (obj[camel] !== undefined && obj[camel] !== null) return { name: camel, value: obj[camel] };
  const snake = toSnake(camel);
  if (obj[snake] !== undefined && obj[snake] !== null) return { name: snake, value: obj[snake] };
  return { name: camel, value: undefined };
}

function toBigInt(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && DECIMAL_SIGNED.test(v)) return BigInt(v);
  return null;
}

function toCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function toSnake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function suggest(key: string, spec: MessageSpec): string | undefined {
  const norm = (s: string) => s.replace(/_/g, '').toLowerCase();
  return Object.keys(spec.fields).find((f) => norm(f) === norm(key));
}

function join(path: string, key: string): string {
  const part = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (!path) return part.startsWith('[') ? `request body${part}` : part;
  return part.startsWith('[') ? `${path}${part}` : `${path}.${part}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

