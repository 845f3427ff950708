// The table of open spans: found by the host's DTO object first (so concurrent requests with the
// same span_key never collide), by span_key second. Insertion order is age order, which makes
// the cap (evict oldest) and the timeout sweep walk from the front and stop early.
//
// Two things keep the request path cheap. The newest span waits in a slot in front of the Map
// and only moves in when the next one arrives: a request that ends before the next begins (any
// service that is not saturated) costs no Map operation at all, and a small Map that empties
// and fills again on every request (which makes V8 rehash it) is avoided. The by-span_key index
// is built on the first lookup that needs it (beforePush, outgoingSpanKey, an after-hook whose
// DTO was replaced) and kept up to date from then on.
import type { Span } from './span.js';

export class OpenSpans {
  /** Every open span but `newest`, by key object, oldest first. */
  private readonly byKey = new Map<object, Span>();
  /** The span added last, while it is open. */
  private newest: Span | null = null;
  /** Newest open span per trace id (as its UUID), older ones hanging off `span.older`; null until first needed. */
  private byTrace: Map<string, Span> | null = null;

  constructor(private readonly cap: number) {}

  get size(): number {
    return this.byKey.size + (this.newest === null ? 0 : 1);
  }

  private isOpen(key: object): boolean {
    return (this.newest !== null && this.newest.key === key) || (this.byKey.size !== 0 && this.byKey.has(key));
  }

  /** Adds a span; returns the oldest span when the cap is exceeded (the caller ends it). */
  add(key: unknown, span: Span): Span | undefined {
    // A non-object key, or the same DTO object twice at once: a token of its own. The older
    // span keeps the DTO (first in, first out); the newer is still found by span_key.
    const k = typeof key === 'object' && key !== null && !this.isOpen(key) ? key : {};
    span.key = k;
    const previous = this.newest;
    if (previous !== null) this.byKey.set(previous.key!, previous);
    this.newest = span;
    if (this.byTrace !== null) this.link(this.byTrace, span);
    if (this.byKey.size >= this.cap) {
      const oldest = this.byKey.values().next().value as Span;
      this.remove(oldest);
      return oldest;
    }
    return undefined;
  }

  /** Every open span, oldest first. */
  private all(): Span[] {
    const out = [...this.byKey.values()];
    if (this.newest !== null) out.push(this.newest);
    return out;
  }

  private link(index: Map<string, Span>, span: Span): void {
    span.resolve();
    const head = index.get(span.traceUuid);
    if (head !== undefined) {
      span.older = head;
      head.newer = span;
    }
    index.set(span.traceUuid, span);
  }

  /** The trace index, built from the open spans (oldest first, so the newest ends up in front) when first needed. */
  private index(): Map<string, Span> {
    if (this.byTrace === null) {
      this.byTrace = new Map();
      for (const span of this.all()) this.link(this.byTrace, span);
    }
    return this.byTrace;
  }

  /** The span opened with this key object, removed from the table. */
  takeByKey(key: unknown): Span | undefined {
    if (typeof key !== 'object' || key === null) return undefined;
    const n = this.newest;
    const span = n !== null && n.key === key ? n : this.byKey.size !== 0 ? this.byKey.get(key) : undefined;
    if (span !== undefined) this.remove(span);
    return span;
  }

  /** The newest open span for (trace UUID, caller span id); callerId '' matches any. */
  find(traceUuid: string, callerId: string): Span | undefined {
    for (let s: Span | null | undefined = this.index().get(traceUuid); s; s = s.older) {
      if (callerId === '' || s.callerId === callerId) return s;
    }
    return undefined;
  }

  /** The oldest open span for (trace UUID, caller span id), removed: an after-hook whose DTO was replaced. */
  takeOldest(traceUuid: string, callerId: string): Span | undefined {
    let found: Span | undefined;
    for (let s: Span | null | undefined = this.index().get(traceUuid); s; s = s.older) {
      if (s.callerId === callerId) found = s;
    }
    if (found !== undefined) this.remove(found);
    return found;
  }

  remove(span: Span): void {
    if (span.key === null) return;
    if (span === this.newest) this.newest = null;
    else this.byKey.delete(span.key);
    const index = this.byTrace;
    if (index !== null) {
      const { older, newer } = span;
      if (newer !== null) newer.older = older;
      else if (older !== null) index.set(span.traceUuid, older);
      else index.delete(span.traceUuid);
      if (older !== null) older.newer = newer;
      span.older = span.newer = null;
    }
    span.key = null;
  }

  /** Removes and returns the spans started before `before` (clock reading), oldest first. */
  takeStarted(before: number): Span[] {
    const out: Span[] = [];
    for (const span of this.byKey.values()) {
      if (span.start >= before) break;
      out.push(span);
    }
    const n = this.newest;
    if (n !== null && n.start < before && out.length === this.byKey.size) out.push(n);
    for (const s of out) this.remove(s);
    return out;
  }

  takeAll(): Span[] {
    const out = this.all();
    for (const s of out) this.remove(s);
    return out;
  }
}
