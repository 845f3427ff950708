// Id mapping between EcoSystem's span_key and OpenTelemetry ids, and random id generation.
// Only Web Crypto is used, so this module runs on Node, Deno, Bun and edge runtimes.
// The request path keeps a trace id in the form it arrives in, the canonical UUID: checking it
// is one pass over its characters, with no string built; the 32-hex form is made at encode time.

const ZERO_SPAN = '0'.repeat(16);
const ZERO_TRACE = ZERO_SPAN + ZERO_SPAN;

/** Per ASCII code: 0 for a lowercase hex digit, 1 for '-', 2 for anything else. */
const CLASS = new Uint8Array(128).fill(2);
for (let i = 0; i < 16; i++) CLASS[i.toString(16).charCodeAt(0)] = 0;
CLASS[45] = 1;
/** The class each position must have: a canonical UUID (hyphens at 8, 13, 18, 23), 16 hex. */
const UUID_SHAPE = new Uint8Array(36);
UUID_SHAPE[8] = UUID_SHAPE[13] = UUID_SHAPE[18] = UUID_SHAPE[23] = 1;
const HEX16_SHAPE = new Uint8Array(16);

// Branch-free: random hex defeats branch prediction, a table lookup per character does not
// (and a regular expression costs about twice as much here, on the export path of every span).
function fits(s: string, shape: Uint8Array): boolean {
  if (s.length !== shape.length) return false;
  let bad = 0;
  for (let i = 0; i < shape.length; i++) {
    const c = s.charCodeAt(i);
    bad |= (c < 128 ? CLASS[c]! : 4) ^ shape[i]!;
  }
  return bad === 0;
}

/**
 * The canonical UUID (lowercase, hyphenated) of an EcoSystem trace_id: a UUID in any case,
 * hyphenated or not (also `{...}`-braced or `urn:uuid:`-prefixed); null when it is not one, or
 * all zeros. The arriving string itself when it already is canonical (the usual case): no
 * allocation.
 */
export function canonicalUuid(value: unknown): string | null {
  if (typeof value === 'string' && fits(value, UUID_SHAPE)) return value === ZERO_UUID ? null : value;
  const hex = traceIdFromUuid(value);
  return hex && uuidFromTraceId(hex);
}

/** The OTel trace id (32 lowercase hex) of an EcoSystem trace_id in any form canonicalUuid takes; else null. */
export function traceIdFromUuid(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 45) return null;
  const s = value.toLowerCase().replace(/^\{(.{36})\}$|^urn:uuid:(?=.{36}$)/, '$1');
  // 8-4-4-4-12 hex digits, all separated by '-' or none
  const hex = /^[\da-f]{8}(-?)([\da-f]{4}\1){3}[\da-f]{12}$/.test(s) && s.replace(/-/g, '');
  return hex && hex !== ZERO_TRACE ? hex : null;
}

/** Canonical lowercase hyphenated UUID form of a 32-hex trace id (not on a hot path). */
export function uuidFromTraceId(hex: string): string {
  return hex.replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
}

const ZERO_UUID = uuidFromTraceId(ZERO_TRACE);

/**
 * A span id from anything EcoSystem or the Python tracer may have stored: 16 hex (any case),
 * or the id as an unsigned 64-bit integer (number, bigint, or decimal string of at most 20
 * digits), which is what the Python OTel SDK's span_id is. null when invalid or zero; never throws.
 */
export function parseSpanId(value: unknown): string | null {
  // the usual case
  if (typeof value === 'string' && fits(value, HEX16_SHAPE)) return value === ZERO_SPAN ? null : value;
  let n = 0n;
  if (typeof value === 'bigint') n = value;
  else if (Number.isSafeInteger(value)) n = BigInt(value as number); // an unsafe double has already lost bits
  else if (typeof value === 'string') {
    const hex = value.length === 16;
    if ((hex ? /^[\da-f]+$/i : /^\d{1,20}$/).test(value)) n = BigInt(hex ? '0x' + value : value);
  }
  return n > 0n && n < 1n << 64n ? n.toString(16).padStart(16, '0') : null;
}

export interface IdGenerator {
  traceId?(): string;
  spanId?(): string;
}

/**
 * Two lowercase hex characters of every byte value, as the UTF-16 code unit whose two bytes in
 * memory are those characters (built from the bytes, so right on either endianness).
 */
let pairText = '';
for (let i = 256; i < 512; i++) pairText += i.toString(16).slice(1);
const PAIRS = new Uint16Array(Uint8Array.from(pairText, (c) => c.charCodeAt(0)).buffer);
const ascii = new TextDecoder();

/**
 * Random ids from Web Crypto. 4 KiB of randomness at a time become one 8 KiB hex string (one
 * table store per byte, one native decode), and an id is a slice of it: one small allocation per
 * id instead of a concatenation per byte. Zero ids are invalid in OTLP and are redrawn.
 * The two draws are bound functions, to be handed around as they are.
 */
export class RandomIds {
  // (per instance: shared module-level buffers made the refill loop measurably slower)
  #bytes = new Uint8Array(4096);
  #pairs = new Uint16Array(4096);
  #hex = '';
  #pos = 0;

  /** A random id as long as `zero`, never equal to it. */
  #draw(zero: string): string {
    let id: string;
    do {
      if (this.#pos + zero.length > this.#hex.length) {
        crypto.getRandomValues(this.#bytes);
        for (let i = 0; i < 4096; i++) this.#pairs[i] = PAIRS[this.#bytes[i]!]!;
        this.#hex = ascii.decode(this.#pairs);
        this.#pos = 0;
      }
      id = this.#hex.slice(this.#pos, this.#pos + zero.length);
      this.#pos += zero.length;
    } while (id === zero);
    return id;
  }

  spanId = (): string => this.#draw(ZERO_SPAN);
  traceId = (): string => this.#draw(ZERO_TRACE);
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
export function makeIdSource(generator: IdGenerator | undefined): IdSource {
  /** The user's draw of `what`, checked to be `length` lowercase hex and not all zeros; else `otherwise`. */
  const checked = (what: 'traceId' | 'spanId', length: number, otherwise: () => string): (() => string) => {
    const draw = generator?.[what];
    if (!draw) return otherwise;
    const valid = new RegExp(`^(?!0+$)[\\da-f]{${length}}$`);
    return () => {
      const id = draw.call(generator);
      if (typeof id === 'string' && valid.test(id)) return id;
      const got = JSON.stringify(id);
      throw new TypeError(`idGenerator.${what}() must return ${length} lowercase hex, not all zeros; got ${got}`);
    };
  };
  return { traceId: checked('traceId', 32, new RandomIds().traceId), spanId: checked('spanId', 16, () => '') };
}

/**
 * Sampling decision from the trace id alone, so every service and every attempt of a buffered
 * entry agree: the low 52 bits of the id against ratio * 2^52. The id is 32 hex or its UUID.
 */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  const low = traceId.length === 36 ? traceId[22]! + traceId.slice(24) : traceId.slice(19);
  return ratio > 0 && parseInt(low, 16) < ratio * 2 ** 52;
}
