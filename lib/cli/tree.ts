// Renders OTLP/HTTP JSON trace payloads (ExportTraceServiceRequest documents) as indented
// trees of spans, one tree per trace, for the `receive` and `show` commands.
//
// Payloads from any sender are read: field names in lowerCamelCase or snake_case, 64-bit
// integers as strings or JSON numbers, zero-valued fields present or absent, enums as numbers
// or names, ids in either case. Garbage (non-objects, spans without ids) is skipped, never
// thrown on. The output is deterministic: no colour unless asked, stable ordering.
//
//   trace 7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4b
//   └─ tracker.log_request_fail  [tracker-0]  SERVER  1.378 ms  OK  ↑ remote parent 1a2b3c4d5e6f7081
//        request.trace_id  = "7b1e2d3c-4a5f-4e6d-8c7b-9a0f1e2d3c4b"
//        request.route_key = "tracker.log_request_fail"
//      ├─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.383 ms  ERROR: process attempt failed
//      │    request.retries = 0
//      │    event exception at +2.100 ms: exception.type="Error" exception.message="boom"
//      └─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.615 ms  OK
//           request.retries = 1
//
// Span line: name, [service.name of its resource], kind, duration (end - start), status
// (omitted when UNSET; `ERROR: message` when there is a message), then a note when its
// parent is not in the data: `↑ remote parent <id>` when the span's flags say the parent is
// remote (the normal case for a service's entry span), else `(parent <id> not recorded)`.
// Under it: attributes (`key = value`, aligned; strings JSON-quoted, numbers and booleans
// bare, doubles always with a decimal point), events (`event name at +offset: k=v …`, an
// `exception.stacktrace` cut to its first line), links, and dropped counts.
// Traces are ordered by their earliest start time; siblings by start time, then input order.

export interface RenderOptions {
  /** ANSI colours (default false). */
  color?: boolean;
}

const KIND_NAMES = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_NAMES = ['UNSET', 'OK', 'ERROR'];
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;
const MAX_VALUE_DEPTH = 32;

type Obj = Record<string, unknown>;

interface Attr {
  key: string;
  value: string;
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  kind: string;
  start: bigint | null;
  end: bigint | null;
  flags: number;
  status: { code: number; name: string; message: string };
  attributes: Attr[];
  events: { name: string; time: bigint | null; attributes: Attr[] }[];
  links: { traceId: string; spanId: string; attributes: Attr[] }[];
  dropped: { attributes: number; events: number; links: number };
  order: number;
  children: Span[];
  note: string;
}

/**
 * Groups every span of every payload by trace id and prints each trace as a tree.
 * Returns '' when there are no spans; otherwise one block per trace, blocks separated by a
 * blank line, ending with a newline.
 */
export function renderTrees(payloads: unknown[], opts: RenderOptions = {}): string {
  const c = opts.color ? ANSI : PLAIN;
  const spans = collectSpans(payloads);
  const traces = new Map<string, Span[]>();
  for (const s of spans) {
    let list = traces.get(s.traceId);
    if (!list) traces.set(s.traceId, (list = []));
    list.push(s);
  }
  const blocks: { traceId: string; first: bigint | null; order: number; text: string }[] = [];
  for (const [traceId, list] of traces) {
    const roots = buildTree(list);
    const lines = [c.header(`trace ${traceId}`)];
    renderForest(roots, lines, c);
    blocks.push({ traceId, first: minStart(list), order: list[0]!.order, text: lines.join('\n') + '\n' });
  }
  blocks.sort((a, b) => cmpStart(a.first, b.first) || a.order - b.order);
  return blocks.map((b) => b.text).join('\n');
}

// ---------------------------------------------------------------------------------------
// Reading payloads

function collectSpans(payloads: unknown[]): Span[] {
  const out: Span[] = [];
  for (const doc of payloads) {
    for (const rs of list(get(doc, 'resourceSpans'))) {
      const resource = get(rs, 'resource');
      let service = '';
      for (const kv of list(get(resource, 'attributes'))) {
        const v = get(kv, 'value');
        if (get(kv, 'key') === 'service.name' && typeof get(v, 'stringValue') === 'string') {
          service = clean(get(v, 'stringValue') as string);
        }
      }
      for (const ss of list(get(rs, 'scopeSpans'))) {
        for (const sp of list(get(ss, 'spans'))) {
          const span = readSpan(sp, service || 'unknown_service', out.length);
          if (span) out.push(span);
        }
      }
    }
  }
  return out;
}

function readSpan(sp: unknown, service: string, order: number): Span | null {
  const traceId = hexId(get(sp, 'traceId'));
  const spanId = hexId(get(sp, 'spanId'));
  if (!traceId || !spanId) return null;
  let parentSpanId = hexId(get(sp, 'parentSpanId'));
  if (/^0+$/.test(parentSpanId)) parentSpanId = '';
  const status = get(sp, 'status');
  const code = enumIndex(get(status, 'code'), STATUS_NAMES, 'STATUS_CODE_');
  const kind = enumIndex(get(sp, 'kind'), KIND_NAMES, 'SPAN_KIND_');
  const message = get(status, 'message');
  return {
    traceId,
    spanId,
    parentSpanId,
    name: clean(str(get(sp, 'name'))) || '(unnamed)',
    service,
    kind: KIND_NAMES[kind] ?? `KIND_${kind}`,
    start: nonZero(toBigInt(get(sp, 'startTimeUnixNano'))),
    end: nonZero(toBigInt(get(sp, 'endTimeUnixNano'))),
    flags: Number(toBigInt(get(sp, 'flags')) ?? 0n),
    status: {
      code,
      name: STATUS_NAMES[code] ?? `STATUS_${code}`,
      message: typeof message === 'string' ? clean(message) : '',
    },
    attributes: attrs(get(sp, 'attributes')),
    events: list(get(sp, 'events')).map((ev) => ({
      name: clean(str(get(ev, 'name'))) || '(unnamed)',
      time: nonZero(toBigInt(get(ev, 'timeUnixNano'))),
      attributes: attrs(get(ev, 'attributes'), true),
    })),
    links: list(get(sp, 'links')).map((ln) => ({
      traceId: hexId(get(ln, 'traceId')) || '?',
      spanId: hexId(get(ln, 'spanId')) || '?',
      attributes: attrs(get(ln, 'attributes')),
    })),
    dropped: {
      attributes: count(get(sp, 'droppedAttributesCount')),
      events: count(get(sp, 'droppedEventsCount')),
      links: count(get(sp, 'droppedLinksCount')),
    },
    order,
    children: [],
    note: '',
  };
}

function attrs(v: unknown, inEvent = false): Attr[] {
  return list(v).map((kv) => {
    const keyIdx = get(kv, 'keyStrindex');
    const rawKey = get(kv, 'key');
    let key = '""';
    if (typeof rawKey === 'string' && rawKey !== '') key = clean(rawKey);
    else if (keyIdx != null) key = `<strindex ${String(keyIdx)}>`;
    let value = formatValue(get(kv, 'value'), 0);
    if (inEvent && key === 'exception.stacktrace') {
      const s = get(get(kv, 'value'), 'stringValue');
      if (typeof s === 'string') {
        const lines = s.split(/\r?\n/);
        value = quote(lines[0]!) + (lines.length > 1 ? ` (+${plural(lines.length - 1, 'line')})` : '');
      }
    }
    return { key, value };
  });
}

/** An AnyValue for display: strings JSON-quoted, ints and booleans bare, doubles with a point. */
function formatValue(v: unknown, depth: number): string {
  if (depth > MAX_VALUE_DEPTH) return '…';
  if (!isObj(v)) return '(empty)';
  const sv = get(v, 'stringValue');
  if (typeof sv === 'string') return quote(sv);
  const bv = get(v, 'boolValue');
  if (typeof bv === 'boolean') return String(bv);
  const iv = get(v, 'intValue');
  if (iv != null) {
    const n = toBigInt(iv);
    return n === null ? String(iv) : String(n);
  }
  const dv = get(v, 'doubleValue');
  if (dv != null) {
    const n = typeof dv === 'number' ? dv : Number(dv);
    const s = String(n);
    return /^-?\d+$/.test(s) ? `${s}.0` : s;
  }
  const av = get(v, 'arrayValue');
  if (av != null) return `[${list(get(av, 'values')).map((x) => formatValue(x, depth + 1)).join(', ')}]`;
  const kv = get(v, 'kvlistValue');
  if (kv != null) {
    const parts = list(get(kv, 'values')).map(
      (e) => `${clean(str(get(e, 'key')))}: ${formatValue(get(e, 'value'), depth + 1)}`,
    );
    return `{${parts.join(', ')}}`;
  }
  const by = get(v, 'bytesValue');
  if (typeof by === 'string') return `<bytes ${by}>`;
  const si = get(v, 'stringValueStrindex');
  if (si != null) return `<strindex ${String(si)}>`;
  return '(empty)';
}

// ---------------------------------------------------------------------------------------
// Building the tree

function buildTree(spans: Span[]): Span[] {
  const byId = new Map<string, Span>();
  for (const s of spans) {
    if (byId.has(s.spanId)) s.note = '(duplicate span id)';
    else byId.set(s.spanId, s);
  }
  const roots: Span[] = [];
  for (const s of spans) {
    const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    if (parent && parent !== s && !s.note) {
      parent.children.push(s);
    } else if (!s.parentSpanId || s.note) {
      roots.push(s);
    } else if (parent === s) {
      s.note = '(its own parent)';
      roots.push(s);
    } else {
      const remote = (s.flags & FLAG_HAS_IS_REMOTE) !== 0 && (s.flags & FLAG_IS_REMOTE) !== 0;
      s.note = remote ? `↑ remote parent ${s.parentSpanId}` : `(parent ${s.parentSpanId} not recorded)`;
      roots.push(s);
    }
  }
  // Spans caught in a parent cycle are reachable from no root: show them as roots too.
  const reached = new Set<Span>();
  // Walks with a list, not recursion: a sender's chain of spans may be deeper than the stack.
  const visit = (from: Span) => {
    const pending = [from];
    for (let s = pending.pop(); s; s = pending.pop()) {
      if (reached.has(s)) continue;
      reached.add(s);
      pending.push(...s.children);
    }
  };
  roots.forEach(visit);
  for (const s of spans) {
    if (!reached.has(s)) {
      // detach from its parent (the one span it was filed under) so the cycle is cut here
      const parent = byId.get(s.parentSpanId)!;
      parent.children = parent.children.filter((child) => child !== s);
      s.note = `(in a parent cycle via ${s.parentSpanId})`;
      roots.push(s);
      visit(s);
    }
  }
  const bySpanStart = (a: Span, b: Span) => cmpStart(a.start, b.start) || a.order - b.order;
  roots.sort(bySpanStart);
  for (const s of reached) s.children.sort(bySpanStart);
  return roots;
}

// ---------------------------------------------------------------------------------------
// Printing

/**
 * Levels indented at most. Deeper spans are printed at this indentation with their level: one
 * more indent per level would make the text grow with the square of a chain's depth.
 */
const MAX_INDENT = 32;

interface Pending {
  span: Span;
  prefix: string;
  last: boolean;
  /** 0 for a root. */
  depth: number;
}

/** Prints ROOTS and their descendants depth-first, with a list rather than recursion (chains may be deep). */
function renderForest(roots: Span[], out: string[], c: Colors): void {
  const pending: Pending[] = [];
  const pushChildren = (list: Span[], prefix: string, depth: number) => {
    for (let i = list.length - 1; i >= 0; i--) {
      pending.push({ span: list[i]!, prefix, last: i === list.length - 1, depth });
    }
  };
  pushChildren(roots, '', 0);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { span, prefix, last, depth } = next;
    renderSpan(span, prefix, last, depth >= MAX_INDENT ? ` (level ${depth + 1})` : '', out, c);
    pushChildren(span.children, depth < MAX_INDENT ? childPrefix(prefix, last) : prefix, depth + 1);
  }
}

const childPrefix = (prefix: string, last: boolean): string => prefix + (last ? '   ' : '│  ');

/** One span's line and its detail lines; LEVEL is a note for spans past MAX_INDENT. */
function renderSpan(s: Span, prefix: string, last: boolean, level: string, out: string[], c: Colors): void {
  const parts = [c.name(s.name), c.service(`[${s.service}]`), s.kind, duration(s)];
  if (s.status.code !== 0 || s.status.message) {
    const text = s.status.message ? `${s.status.name}: ${s.status.message}` : s.status.name;
    parts.push(s.status.code === 2 ? c.error(text) : s.status.code === 1 ? c.ok(text) : text);
  }
  if (s.note || level) parts.push(c.dim((s.note + level).trim()));
  out.push(c.dim(prefix + (last ? '└─ ' : '├─ ')) + parts.join('  '));
  const detail = c.dim(childPrefix(prefix, last)) + '  ';
  const width = Math.max(0, ...s.attributes.map((a) => a.key.length));
  for (const a of s.attributes) out.push(`${detail}${c.dim(a.key.padEnd(width) + ' =')} ${a.value}`);
  for (const ev of s.events) {
    const at = ev.time !== null && s.start !== null ? ` at ${signed(ev.time - s.start)}` : '';
    const kv = ev.attributes.map((a) => `${a.key}=${a.value}`).join(' ');
    out.push(`${detail}${c.event(`event ${ev.name}`)}${at}${kv ? `: ${kv}` : ''}`);
  }
  for (const ln of s.links) {
    const kv = ln.attributes.map((a) => `${a.key}=${a.value}`).join(' ');
    const where = ln.traceId === s.traceId ? `span ${ln.spanId}` : `trace ${ln.traceId} span ${ln.spanId}`;
    out.push(`${detail}link to ${where}${kv ? `: ${kv}` : ''}`);
  }
  const dropped = [
    plural(s.dropped.attributes, 'attribute'),
    plural(s.dropped.events, 'event'),
    plural(s.dropped.links, 'link'),
  ].filter(Boolean);
  if (dropped.length) out.push(`${detail}${c.dim(`(dropped: ${dropped.join(', ')})`)}`);
}

function duration(s: Span): string {
  if (s.start === null) return 'no start time';
  if (s.end === null) return 'not ended';
  return formatNanos(s.end - s.start);
}

/** Nanoseconds as `1.234 ms` (to the microsecond, rounded half up), or `12.345 s` from 1 s on. */
export function formatNanos(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const sign = neg ? '-' : '';
  const us = (abs + 500n) / 1000n;
  if (us < 1_000_000n) return `${sign}${us / 1000n}.${pad3(us % 1000n)} ms`;
  const ms = (abs + 500_000n) / 1_000_000n;
  return `${sign}${ms / 1000n}.${pad3(ms % 1000n)} s`;
}

function signed(ns: bigint): string {
  return ns < 0n ? formatNanos(ns) : `+${formatNanos(ns)}`;
}

function pad3(n: bigint): string {
  return String(n).padStart(3, '0');
}

function plural(n: number, word: string): string {
  return n > 0 ? `${n} ${word}${n === 1 ? '' : 's'}` : '';
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeControl = (ch: string) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text shown bare (names, keys, messages): control characters escaped, so one line stays one
 * line and a sender cannot drive the terminal. */
function clean(s: string): string {
  return s.replace(CONTROL, escapeControl);
}

/** A string value, JSON-quoted, with C1 control characters escaped too. */
function quote(s: string): string {
  return JSON.stringify(s).replace(CONTROL, escapeControl);
}

interface Colors {
  header(s: string): string;
  name(s: string): string;
  service(s: string): string;
  ok(s: string): string;
  error(s: string): string;
  event(s: string): string;
  dim(s: string): string;
}

const id = (s: string) => s;
const PLAIN: Colors = { header: id, name: id, service: id, ok: id, error: id, event: id, dim: id };
const wrap = (code: string) => (s: string) => (s ? `\x1b[${code}m${s}\x1b[0m` : s);
const ANSI: Colors = {
  header: wrap('1;33'),
  name: wrap('1'),
  service: wrap('36'),
  ok: wrap('32'),
  error: wrap('1;31'),
  event: wrap('35'),
  dim: wrap('2'),
};

// ---------------------------------------------------------------------------------------
// Lenient field access

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field by its lowerCamelCase name, or its proto snake_case name. */
function get(o: unknown, camel: string): unknown {
  if (!isObj(o)) return undefined;
  const v = o[camel];
  if (v !== undefined && v !== null) return v;
  const snake = o[camel.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`)];
  return snake === null ? undefined : snake;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function hexId(v: unknown): string {
  return typeof v === 'string' && /^[0-9a-fA-F]+$/.test(v) ? v.toLowerCase() : '';
}

function toBigInt(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return BigInt(v);
  return null;
}

function nonZero(n: bigint | null): bigint | null {
  return n === 0n ? null : n;
}

function count(v: unknown): number {
  const n = toBigInt(v);
  return n !== null && n > 0n ? Number(n) : 0;
}

function enumIndex(v: unknown, names: string[], prefix: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const i = names.indexOf(v.startsWith(prefix) ? v.slice(prefix.length) : v);
    if (i >= 0) return i;
    if (/^[0-9]+$/.test(v)) return Number(v);
  }
  return 0;
}

function minStart(spans: Span[]): bigint | null {
  let min: bigint | null = null;
  for (const s of spans) if (s.start !== null && (min === null || s.start < min)) min = s.start;
  return min;
}

/** Ascending; a missing start time sorts last. */
function cmpStart(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}
