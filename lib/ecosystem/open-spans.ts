// The table of open spans: found by the host's DTO object first (so concurrent requests with the
// same span_key never collide), by span_key second. Insertion order is age order: the cap evicts
// from the front, the timeout sweep takes the spans started too long ago.
//
// Two things keep the request path cheap. The newest span waits in a slot in front of the Map
// and only moves in when the next one arrives: a request that ends before the next begins (any
// service that is not saturated) costs no Map operation at all, and a small Map that empties
// and fills again on every request (which makes V8 rehash it) is avoided. The by-span_key index
// is built on the first lookup that needs it (beforePush, outgoingSpanKey, an after-hook whose
// DTO was replaced) and kept up to date from then on.
import type { Span } from '../trace/span.js';
import type { Tracer } from '../trace/tracer.js';
import type { SpanKey } from './contract.js';
import { canonicalUuid, parseSpanId } from '../trace/ids.js';

export class OpenSpans {
  /** Every open span but `#newest`, by key object, oldest first. */
  #byKey = new Map<object, Span>();
  /** The span added last, while it is open. */
  #newest: Span | null = null;
  /** The open spans of each trace id (as its UUID), oldest first; null until first needed. */
  #byTrace: Map<string, Span[]> | null = null;
  #tracer: Tracer;
  #what: string;

  /**
   * @param what what the spans stand for, in the cap's message ('requests')
   * @param endHook the hook that ends them, in the timeout's message
   */
  constructor(tracer: Tracer, what: string, endHook: string) {
    this.#tracer = tracer;
    this.#what = what;
    tracer.watch(this, endHook);
  }

  get size(): number {
    return this.#byKey.size + (this.#newest ? 1 : 0);
  }

  /** Adds a span; past the cap the oldest open span is ended as ERROR. */
  add(key: unknown, span: Span): void {
    const byKey = this.#byKey;
    const previous = this.#newest;
    // A non-object key, or the same DTO object twice at once: a token of its own. The older
    // span keeps the DTO (first in, first out); the newer is still found by span_key.
    const taken = previous?.key === key || (byKey.size !== 0 && byKey.has(key as object));
    span.key = typeof key === 'object' && key !== null && !taken ? key : {};
    if (previous) byKey.set(previous.key!, previous);
    this.#newest = span;
    if (this.#byTrace) this.#link(span);
    const t = this.#tracer;
    const cap = t.config.maxOpenSpans;
    if (byKey.size >= cap) {
      const oldest = byKey.values().next().value!;
      this.#remove(oldest);
      const message = `more than ${cap} ${this.#what} open at once; oldest span ended early`;
      t.fail(oldest, message);
      t.diagnostics.warn('open-span-cap', message);
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
    const uuid = canonicalUuid((spanKey as SpanKey | undefined)?.trace_id);
    if (uuid === null) return [];
    const caller = parseSpanId((spanKey as SpanKey).span_id) ?? '';
    if (!this.#byTrace) {
      this.#byTrace = new Map();
      for (const span of this.#all()) this.#link(span);
    }
    return (this.#byTrace.get(uuid) ?? []).filter((s) => s.callerId === caller || (anyCaller && !caller));
  }

  /** The newest open span of this span_key (the request being handled now); a span_key without a usable span_id matches any caller. */
  find(spanKey: unknown): Span | undefined {
    return this.#matching(spanKey, true).pop();
  }

  /**
   * The span opened with this DTO object, else (a middleware replaced the DTO) the oldest open
   * one of its span_key; removed from the table.
   */
  take(dto: unknown, spanKey: unknown): Span | undefined {
    const newest = this.#newest;
    const span = newest !== null && newest.key === dto ? newest : (this.#byKey.get(dto as object) ?? this.#matching(spanKey, false)[0]);
    if (span) this.#remove(span);
    return span;
  }

  #remove(span: Span): void {
    if (span === this.#newest) this.#newest = null;
    else this.#byKey.delete(span.key!);
    span.key = null;
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
