// Id mapping between EcoSystem's span_key and OpenTelemetry ids, and random id generation.
// Only Web Crypto is used, so this module runs on Node, Deno, Bun and edge runtimes.
// The request path keeps a trace id in the form it arrives in, the canonical UUID: checking it
// is one pass over its characters, with no string built; the 32-hex form is made at encode time.

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const ZERO_SPAN = '0000000000000000';
const HEX32 = /^[\da-f]{32}$/;
const HEX = /^[\da-f]*$/;

/** Per ASCII code: 0 for a lowercase hex digit, 1 for '-', 2 for anything else. */
const CLASS = new Uint8Array(128).fill(2);
for (let i = 0; i < 16; i++) CLASS['0123456789abcdef'.charCodeAt(i)] = 0;
CLASS[45] = 1;
/** The class each position of a canonical UUID must have. */
const UUID_SHAPE = new Uint8Array(36);
UUID_SHAPE[8] = UUID_SHAPE[13] = UUID_SHAPE[18] = UUID_SHAPE[23] = 1;

// Branch-free checks: random hex defeats branch prediction, a table lookup per character does not.
function isCanonicalUuid(s: string): boolean {
  if (s.length !== 36) return false;
  let bad = 0;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    bad |= (c < 128 ? CLASS[c]! : 4) ^ UUID_SHAPE[i]!;
  }
  return bad === 0;
}

function isHex16(s: string): boolean {
  if (s.length !== 16) return false;
  let bad = 0;
  for (let i = 0; i < 16; i++) {
    const c = s.charCodeAt(i);
    bad |= c < 128 ? CLASS[c]! : 4;
  }
  return bad === 0;
}

/**
 * The canonical UUID (lowercase, hyphenated) of an EcoSystem trace_id: a UUID in any case,
 * hyphenated or not (also `{...}`-braced or `urn:uuid:`-prefixed); null when it is not one, or all
 * zeros. The arriving string itself when it is already canonical (the usual case): no allocation.
 */
export function canonicalUuid(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  if (isCanonicalUuid(value)) return value === ZERO_UUID ? null : value;
  const hex = traceIdFromUuid(value);
  return hex === null ? null : uuidFromTraceId(hex);
}

/**
 * The OTel trace id (32 lowercase hex) of an EcoSystem trace_id: a UUID in any case, hyphenated
 * or not (also `{...}`-braced or `urn:uuid:`-prefixed). null when it is not one, or all zeros.
 */
export function traceIdFromUuid(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  let s = value;
  if (s.length === 38 && s[0] === '{' && s[37] === '}') s = s.slice(1, 37);
  else if (s.length === 45 && s.slice(0, 9).toLowerCase() === 'urn:uuid:') s = s.slice(9);
  if (s.length === 36) {
    if (s[8] !== '-' || s[13] !== '-' || s[18] !== '-' || s[23] !== '-') return null;
    s = hexFromUuid(s);
  }
  s = s.toLowerCase();
  return HEX32.test(s) && s !== '00000000000000000000000000000000' ? s : null;
}

/** The 32 hex of a hyphenated UUID (no checks). */
export function hexFromUuid(u: string): string {
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

/** Canonical lowercase hyphenated UUID form of a 32-hex trace id. */
export function uuidFromTraceId(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * A span id from anything EcoSystem or the Python tracer may have stored: 16 hex (any case),
 * or the id as an unsigned 64-bit integer (number, bigint, or decimal string), which is what
 * the Python OTel SDK's span_id is. null when invalid or zero; never throws.
 */
export function parseSpanId(value: unknown): string | null {
  let n: bigint;
  if (typeof value === 'string') {
    if (value.length === 16) {
      const hex = isHex16(value) ? value : isHex16(value.toLowerCase()) ? value.toLowerCase() : null;
      if (hex !== null) return hex === ZERO_SPAN ? null : hex;
    }
    // A decimal integer as text (at most 20 digits: 2^64-1 has 20).
    if (value.length === 0 || value.length > 20 || !/^\d+$/.test(value)) return null;
    n = BigInt(value);
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return null; // an unsafe double has already lost bits
    n = BigInt(value);
  } else if (typeof value === 'bigint') {
    n = value;
  } else {
    return null;
  }
  if (n <= 0n || n > MAX_U64) return null;
  return n.toString(16).padStart(16, '0');
}

export interface IdGenerator {
  traceId?(): string;
  spanId?(): string;
}

/** Two lowercase hex characters of every byte value, as one UTF-16 code unit pair (little end first). */
const PAIRS = new Uint16Array(256);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
for (let i = 0; i < 256; i++) {
  const hi = '0123456789abcdef'.charCodeAt(i >> 4);
  const lo = '0123456789abcdef'.charCodeAt(i & 15);
  PAIRS[i] = LITTLE ? hi | (lo << 8) : (hi << 8) | lo;
}

/**
 * Random ids from Web Crypto. 4 KiB of randomness at a time become one 8 KiB hex string (one
 * table store per byte, one native decode), and an id is a slice of it: one small allocation per
 * id instead of a concatenation per byte. Zero ids are invalid in OTLP and are redrawn.
 */
export class RandomIds {
  private readonly bytes = new Uint8Array(4096);
  private readonly chars = new Uint16Array(4096);
  private readonly ascii = new TextDecoder();
  private hex = '';
  private pos = 0;

  private take(len: number): string {
    if (this.pos + len > this.hex.length) {
      globalThis.crypto.getRandomValues(this.bytes);
      for (let i = 0; i < 4096; i++) this.chars[i] = PAIRS[this.bytes[i]!]!;
      this.hex = this.ascii.decode(this.chars);
      this.pos = 0;
    }
    return this.hex.slice(this.pos, (this.pos += len));
  }

  spanId(): string {
    for (;;) {
      const id = this.take(16);
      if (id !== ZERO_SPAN) return id;
    }
  }

  traceId(): string {
    for (;;) {
      const id = this.take(32);
      if (id !== '00000000000000000000000000000000') return id;
    }
  }
}

export interface IdSource {
  traceId(): string;
  /**
   * The id a new span starts with. A user generator's ids are drawn here, in start order, so
   * recordings are deterministic. Random ids are not: '' makes the Span draw one when its id is
   * first read (most request spans: by the encoder), which keeps the draw off the request path.
   */
  spanId(): string;
}

/** Combines a user generator (deterministic recordings) with the random one for what it lacks. */
export function makeIdSource(gen: IdGenerator | undefined): IdSource {
  const random = new RandomIds();
  if (!gen) return { traceId: () => random.traceId(), spanId: () => '' };
  const check = (id: unknown, len: number, what: string): string => {
    if (typeof id !== 'string' || id.length !== len || !HEX.test(id) || /^0+$/.test(id)) {
      throw new TypeError(`idGenerator.${what}() must return ${len} lowercase hex characters, not all zero; got ${JSON.stringify(id)}`);
    }
    return id;
  };
  return {
    traceId: gen.traceId ? () => check(gen.traceId!(), 32, 'traceId') : () => random.traceId(),
    spanId: gen.spanId ? () => check(gen.spanId!(), 16, 'spanId') : () => '',
  };
}

/**
 * Sampling decision from the trace id alone, so every service and every attempt of a buffered
 * entry agree: the low 52 bits of the id against ratio * 2^52. The id is 32 hex or its UUID.
 */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  const low = traceId.length === 36 ? traceId[22]! + traceId.slice(24) : traceId.slice(19);
  return parseInt(low, 16) < ratio * 2 ** 52;
}
