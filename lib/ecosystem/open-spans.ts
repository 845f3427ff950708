// The table of open spans: found by the key object the start hook filed it under (the host's
// DTO object) first, so concurrent requests with the same span_key never collide; by span_key
// second. Insertion order is age order: the cap evicts from the front, the timeout sweep takes
// the spans started too long ago. It knows nothing of the tracer: what happens to an evicted
// span is the owner's `evicted` callback, and the tracer's sweep calls takeStarted.
//
// Two things keep the request path cheap. The newest span waits in a slot in front of the Map
// and only moves in when the next one arrives: a request that ends before the next begins (any
// service that is not saturated) costs no Map operation at all, and a small Map that empties
// and fills again on every request (which makes V8 rehash it) is avoided: request path 1070 ->
// 610 ns/request when introduced. The by-span_key index is built on the first lookup that needs
// it (beforePush, outgoingSpanKey, an after-hook whose DTO was replaced) and kept up to date from
// then on.
import type { Span } from '../trace/span.js';
import { canonicalUuid, parseSpanId } from '../trace/ids.js';

export interface OpenSpansOptions {
  /** Open spans kept at most; past it the oldest is evicted. */
  cap: number;
  /** What the spans stand for, in the cap's message ('requests'). */
  what: string;
  /** Ends an evicted span (as ERROR, with this message) and reports it. */
  evicted(span: Span, message: string): void;
}

type SpanKeyFields = { trace_id?: unknown; span_id?: unknown } | undefined;

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

export class OpenSpans {
  /** Every open span but `#newest`, by key object, oldest first. */
  #byKey = new Map<object, Span>();
  /** The span added last, while it is open. */
  #newest: Span | null = null;
  /** The open spans of each trace id (as its UUID), oldest first; null until first needed. */
  #byTrace: Map<string, Span[]> | null = null;
  readonly #options: OpenSpansOptions;

  constructor(options: OpenSpansOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#byKey.size + (this.#newest ? 1 : 0);
  }

  /** Adds a span under `key`; past the cap the oldest open span is evicted. */
  add(key: unknown, span: Span): void {
    const byKey = this.#byKey;
    const previous = this.#newest;
    // A non-object key, or the same object twice at once: a token of its own. The older
    // span keeps the object (first in, first out); the newer is still found by span_key.
    const taken = previous?.key === key || (byKey.size !== 0 && byKey.has(key as object));
    span.key = isObject(key) && !taken ? key : {};
    if (previous) byKey.set(previous.key!, previous);
    this.#newest = span;
    if (this.#byTrace) this.#link(span);
    const { cap, what } = this.#options;
    if (byKey.size >= cap) {
      const oldest = byKey.values().next().value!;
      this.#remove(oldest);
      this.#options.evicted(oldest, `more than ${cap} ${what} open at once; oldest span ended early`);
    }
  }

  /** Every open span, oldest first. */
  #all(): Span[] {
    const all = [...this.#byKey.values()];
    if (this.#newest) all.push(this.#newest);
    return all;
  }

  #link(span: Span): void {
    const list = this.#byTrace!.get(span.traceUuid);
    if (list) list.push(span);
    else this.#byTrace!.set(span.traceUuid, [span]);
  }

  /**
   * The open spans of a span_key's trace id, oldest first, whose caller is the span_key's
   * span_id; any caller when `anyCaller` and the span_key has no usable span_id.
   */
  #matching(spanKey: unknown, anyCaller: boolean): Span[] {
    const uuid = canonicalUuid((spanKey as SpanKeyFields)?.trace_id);
    if (uuid === null) return [];
    const caller = parseSpanId((spanKey as SpanKeyFields)!.span_id) ?? '';
    if (!this.#byTrace) {
      this.#byTrace = new Map();
      for (const span of this.#all()) this.#link(span);
    }
    return (this.#byTrace.get(uuid) ?? []).filter((s) => s.callerId === caller || (anyCaller && !caller));
  }

  /**
   * The newest of `spans` (oldest first) started with this very span_key: the host passes the
   * request's own span_key object to every hook, which tells apart requests whose span_keys are
   * equal, or unusable.
   */
  static #startedWith(spans: readonly Span[], spanKey: unknown): Span | undefined {
    for (let i = spans.length - 1; i >= 0; i--) if (spans[i]!.spanKey === spanKey) return spans[i];
    return undefined;
  }

  /**
   * The open span of the request being handled now: the one started with this span_key
   * object, else the newest of its span_key's value (a span_key without a usable span_id matches
   * any caller).
   */
  find(spanKey: unknown): Span | undefined {
    const newest = this.#newest;
    // The request being handled is usually the newest: no index needed.
    if (newest !== null && isObject(spanKey) && newest.spanKey === spanKey) return newest;
    const sameValue = this.#matching(spanKey, true);
    return OpenSpans.#startedWith(sameValue, spanKey) ?? sameValue.at(-1) ?? this.#startedWithUnusable(spanKey);
  }

  /**
   * The span filed under this key object, else (a middleware replaced the DTO, a payload that is
   * no object) the one started with this span_key object, else the oldest open one of its
   * span_key's value; removed from the table.
   */
  take(key: unknown, spanKey: unknown): Span | undefined {
    const newest = this.#newest;
    let span = newest !== null && newest.key === key ? newest : this.#byKey.get(key as object);
    if (!span) {
      const sameValue = this.#matching(spanKey, false);
      span = OpenSpans.#startedWith(sameValue, spanKey) ?? sameValue[0] ?? this.#startedWithUnusable(spanKey);
    }
    if (span) this.#remove(span);
    return span;
  }

  /**
   * The span started with this span_key object when its trace id is unusable (no index by value
   * can hold it). A scan of the open spans, paid only by requests with such a span_key, rather
   * than an index every request would keep up to date.
   */
  #startedWithUnusable(spanKey: unknown): Span | undefined {
    if (!isObject(spanKey) || canonicalUuid((spanKey as SpanKeyFields)?.trace_id) !== null) return undefined;
    return OpenSpans.#startedWith(this.#all(), spanKey);
  }

  #remove(span: Span): void {
    if (span === this.#newest) this.#newest = null;
    else this.#byKey.delete(span.key!);
    span.key = null;
    span.spanKey = undefined;
    const list = this.#byTrace?.get(span.traceUuid);
    if (list) {
      list.splice(list.indexOf(span), 1); // (every open span is in its trace's list)
      if (!list.length) this.#byTrace!.delete(span.traceUuid);
    }
  }

  /** Removes and returns the spans started before `before` (clock reading), oldest first. */
  takeStarted(before: number): Span[] {
    const out = this.#all().filter((span) => span.start < before);
    for (const span of out) this.#remove(span);
    return out;
  }
}
