// The byte writer: a request body being written as UTF-8, straight into a Uint8Array (no string
// per batch). One per body, so an encoding started from inside another (an attribute key's
// toString that flushes a tracer) writes its own body and leaves the outer one alone.
//
// Bodies are plain Uint8Arrays (one kind of array, so that the writes into them stay
// monomorphic). Zero-filling a fresh one costs nothing measurable: large allocations come
// zeroed from the system.

const utf8 = new TextEncoder();

/** Extra room on each growth, so a run of small writes past the end grows the buffer once. */
const GROWTH_SLACK = 4096;

export class ByteWriter {
  /** The buffer being written; replaced by a bigger copy when it runs out. */
  bytes: Uint8Array;
  /** The next free byte. */
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    if (this.pos + n > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.pos + n + GROWTH_SLACK));
      bigger.set(this.bytes.subarray(0, this.pos));
      this.bytes = bigger;
    }
  }

  /** Text as UTF-8, in one native pass (a rope is flattened once, not walked per character). */
  text(s: string): void {
    this.reserve(s.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 code unit
    this.pos += utf8.encodeInto(s, this.bytes.subarray(this.pos)).written;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.pos++] = b;
  }

  /** Copies bytes in. */
  copy(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** ASCII s over already written bytes, from byte offset `at`. */
  overwrite(s: string, at: number): void {
    const bytes = this.bytes;
    for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
  }

  /** What was written. */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }
}

/** Buffers larger than this are not kept for later bodies: a burst of huge spans must not pin memory. */
const MAX_REUSED_BYTES = 4 * 1024 * 1024;

/** The whole buffer behind a body, to encode a later batch into; undefined when it is not worth keeping. */
export function reusableBuffer(body: Uint8Array): Uint8Array | undefined {
  const size = body.buffer.byteLength;
  // Small ones may live in a shared slab (a Node Buffer): never hand those out again.
  if (body.byteOffset !== 0 || size < 65_536 || size > MAX_REUSED_BYTES) return undefined;
  return new Uint8Array(body.buffer);
}
