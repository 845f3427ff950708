// The queue of ended spans between the request path and the exporter, kept as batch-sized
// chunks, so that taking a batch is one shift of a short array, never a splice of a long one:
//
//      taken                                                   pushed      (sequence numbers)
//        |                                                        |
//        v                                                        v
//      +-------------------+-------------------+------------------+ - - - - +
//      | chunk 0: full     | chunk 1: full     | tail: filling    |  free   |
//      | (batchSize spans) | (batchSize spans) | (< batchSize)    |         |
//      +-------------------+-------------------+------------------+ - - - - +
//        ^ takeBatch() shifts chunk 0 off       push() appends here ^
//
// Every span gets a sequence number as it is pushed (`pushed` counts them); `taken` counts
// those handed out. A flush remembers `pushed` as its mark and is done once everything before
// the mark is accounted for. The caller checks `isFull` (pushed - taken >= capacity) first.
import type { Span } from '../trace/span.js';

export class SpanQueue {
  /** Spans ever pushed (the next span's sequence number). */
  pushed = 0;
  /** Spans ever taken out (by takeBatch or clear). */
  taken = 0;
  #tail: Span[] = [];
  #chunks: Span[][] = [this.#tail];

  constructor(
    readonly batchSize: number,
    readonly capacity: number,
  ) {}

  get length(): number {
    return this.pushed - this.taken;
  }

  get isFull(): boolean {
    return this.pushed - this.taken >= this.capacity;
  }

  /** Appends a span; true when that filled a batch. */
  push(span: Span): boolean {
    if (this.#tail.length >= this.batchSize) this.#chunks.push((this.#tail = []));
    this.#tail.push(span);
    this.pushed++;
    return this.#tail.length >= this.batchSize;
  }

  /** The oldest chunk is a whole batch. */
  get hasFullBatch(): boolean {
    return this.#chunks[0]!.length >= this.batchSize;
  }

  /** The oldest spans, a batch at most; only when the queue is not empty. */
  takeBatch(): Span[] {
    const spans = this.#chunks.shift()!;
    if (this.#chunks.length === 0) this.#chunks.push((this.#tail = []));
    this.taken += spans.length;
    return spans;
  }

  /** Empties the queue; returns how many spans it held. */
  clear(): number {
    const count = this.length;
    this.#tail = [];
    this.#chunks = [this.#tail];
    this.taken = this.pushed;
    return count;
  }
}
