// The table of open spans: found by the host's DTO object first (so concurrent requests with the
// same span_key never collide), by span_key second. Insertion order is age order, which makes
// the cap (evict oldest) and the timeout sweep walk from the front and stop early.
import type { Span } from './span.js';

export class OpenSpans {
  private readonly byKey = new Map<object, Span>();
  /** Newest open span per trace id (as its UUID); older ones hang off `span.older`. */
  private readonly byTrace = new Map<string, Span>();

  constructor(private readonly cap: number) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Adds a span; returns the oldest span when the cap is exceeded (the caller ends it). */
  add(key: unknown, span: Span): Span | undefined {
    // A non-object key, or the same DTO object twice at once: a token of its own. The older
    // span keeps the DTO (first in, first out); the newer is still found by span_key.
    const k = typeof key === 'object' && key !== null && !this.byKey.has(key) ? key : {};
    span.key = k;
    this.byKey.set(k, span);
    const head = this.byTrace.get(span.traceUuid);
    if (head !== undefined) {
      span.older = head;
      head.newer = span;
    }
    this.byTrace.set(span.traceUuid, span);
    if (this.byKey.size > this.cap) {
      const oldest = this.byKey.values().next().value as Span;
      this.remove(oldest);
      return oldest;
    }
    return undefined;
  }

  /** The span opened with this key object, removed from the table. */
  takeByKey(key: unknown): Span | undefined {
    if (typeof key !== 'object' || key === null) return undefined;
    const span = this.byKey.get(key);
    if (span !== undefined) this.remove(span);
    return span;
  }

  /** The newest open span for (trace UUID, caller span id); callerId '' matches any. */
  find(traceUuid: string, callerId: string): Span | undefined {
    for (let s: Span | null | undefined = this.byTrace.get(traceUuid); s; s = s.older) {
      if (callerId === '' || s.callerId === callerId) return s;
    }
    return undefined;
  }

  /** The oldest open span for (trace UUID, caller span id), removed: an after-hook whose DTO was replaced. */
  takeOldest(traceUuid: string, callerId: string): Span | undefined {
    let found: Span | undefined;
    for (let s: Span | null | undefined = this.byTrace.get(traceUuid); s; s = s.older) {
      if (s.callerId === callerId) found = s;
    }
    if (found !== undefined) this.remove(found);
    return found;
  }

  remove(span: Span): void {
    if (span.key === null) return;
    this.byKey.delete(span.key);
    const { older, newer } = span;
    if (newer !== null) newer.older = older;
    else if (older !== null) this.byTrace.set(span.traceUuid, older);
    else this.byTrace.delete(span.traceUuid);
    if (older !== null) older.newer = newer;
    span.key = span.older = span.newer = null;
  }

  /** Removes and returns the spans started before `before` (clock reading), oldest first. */
  takeStarted(before: number): Span[] {
    const out: Span[] = [];
    for (const span of this.byKey.values()) {
      if (span.start >= before) break;
      out.push(span);
    }
    for (const s of out) this.remove(s);
    return out;
  }

  takeAll(): Span[] {
    const out = [...this.byKey.values()];
    for (const s of out) this.remove(s);
    return out;
  }
}
