// The batching processor: a bounded queue between the request path and the exporter. Ending a
// span costs a push; batches are cut, encoded and sent later, from a timer or an immediate.
// It owns every count, so stats add up whatever the exporter does:
//   exported + dropped + rejected + failed + queued + inFlight = ended.
import type { Span } from './span.js';
import type { Diagnostics } from './log.js';
import type { ExportBatch, ExportResult, SpanExporter } from './exporter.js';
import { unref } from './exporter.js';

export interface BatcherOptions {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  /** Requests in flight at most. */
  maxConcurrentExports: number;
  exporter: SpanExporter;
  encode: (spans: readonly Span[]) => Uint8Array;
  /** Bodies of a settled batch, for reuse (only when the exporter holds none after settling). */
  release?: (bodies: Uint8Array[]) => void;
  diagnostics: Diagnostics;
}

export interface ExportStats {
  /** Spans handed to the exporter pipeline (ended and sampled). */
  ended: number;
  queued: number;
  inFlight: number;
  exported: number;
  dropped: number;
  rejected: number;
  failed: number;
  /** HTTP attempts that re-sent a payload. */
  retries: number;
  /** Request body bytes as sent (after compression), retries included. */
  bytesSent: number;
}

interface Running {
  /** Sequence number of the batch's first span: flush waits on what came before its mark. */
  first: number;
  size: number;
  settled: boolean;
  /** Bodies encoded for it, when the exporter lets them be reused. */
  bodies?: Uint8Array[];
}

/**
 * An awaited forceFlush holds the process open (a ref'd timer) this long at most, so a script
 * that awaits it is not abandoned mid-await while an export waits out a retry backoff (those
 * timers are unref'd). The hold is granted once per new span: a flush repeated with nothing new
 * (beforeExit fires again when the hold ends) does not extend it, so the process still exits.
 */
export const FLUSH_HOLD_MILLIS = 3000;

const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

export class Batcher {
  /**
   * The queue, as batch-sized chunks (the last one is being filled): a batch is taken with one
   * shift of a short array, never a splice of a long one.
   */
  private chunks: Span[][] = [[]];
  private readonly running = new Set<Running>();
  private readonly abort = new AbortController();
  private ended = 0;
  private exported = 0;
  private dropped = 0;
  private rejected = 0;
  private failed = 0;
  private retries = 0;
  private bytesSent = 0;
  private inFlight = 0;
  /** Spans dropped on a full queue since the last report (reported off the request path). */
  private unreportedDrops = 0;
  /** Spans ever accepted into the queue, and ever taken out of it. */
  private enqueued = 0;
  private dequeued = 0;
  /** Send everything up to this sequence number now, without waiting for full batches. */
  private drainTo = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pumpScheduled = false;
  private waiters: { mark: number; resolve: () => void }[] = [];
  private closing: Promise<void> | undefined;
  /** The ref'd timer of FLUSH_HOLD_MILLIS, while a flush is awaited; and the mark it was granted for. */
  private hold: ReturnType<typeof setTimeout> | undefined;
  private heldTo = 0;

  constructor(private readonly o: BatcherOptions) {}

  /**
   * The request path's only cost: a push, and a timer armed once per batch. A full queue costs
   * two increments; the drops are reported later, from the pump (a timer is always armed or an
   * export running while the queue is full).
   */
  add(span: Span): void {
    this.ended++;
    if (this.enqueued - this.dequeued >= this.o.maxQueueSize || this.closing !== undefined) {
      this.dropped++;
      if (this.closing === undefined) this.unreportedDrops++;
      else this.o.diagnostics.warn('after-shutdown', 'a span ended after shutdown began; 1 span dropped', 1);
      return;
    }
    let tail = this.chunks[this.chunks.length - 1]!;
    if (tail.length >= this.o.maxExportBatchSize) this.chunks.push((tail = []));
    tail.push(span);
    this.enqueued++;
    if (tail.length >= this.o.maxExportBatchSize) this.schedulePump();
    else if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drainTo = this.enqueued;
      this.pump();
    }, this.o.scheduledDelayMillis);
    unref(this.timer);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    defer(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private reportDrops(): void {
    const n = this.unreportedDrops;
    if (n === 0) return;
    this.unreportedDrops = 0;
    this.o.diagnostics.warn(
      'queue-full',
      `export queue full (${this.o.maxQueueSize} spans): the endpoint is slower than spans arrive; ${n} span${n === 1 ? '' : 's'} dropped`,
      n,
    );
  }

  private pump(): void {
    if (this.unreportedDrops > 0) this.reportDrops();
    const max = this.o.maxExportBatchSize;
    while (
      this.running.size < this.o.maxConcurrentExports &&
      this.enqueued > this.dequeued &&
      (this.chunks[0]!.length >= max || this.dequeued < this.drainTo)
    ) {
      const spans = this.chunks.shift()!;
      if (this.chunks.length === 0) this.chunks.push([]);
      this.start(spans);
    }
    if (this.enqueued > this.dequeued && this.timer === undefined && this.closing === undefined) this.arm();
  }

  private start(spans: Span[]): void {
    const run: Running = { first: this.dequeued, size: spans.length, settled: false };
    this.dequeued += spans.length;
    this.inFlight += spans.length;
    this.running.add(run);
    const batch: ExportBatch = {
      spans,
      encode: (subset) => {
        const body = this.o.encode(subset ?? spans);
        if (this.o.release !== undefined) (run.bodies ??= []).push(body);
        return body;
      },
      signal: this.abort.signal,
      attempted: (bytes, isRetry) => {
        if (run.settled) return;
        this.bytesSent += bytes;
        if (isRetry) this.retries++;
      },
    };
    let p: Promise<ExportResult>;
    try {
      p = this.o.exporter.export(batch);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => this.settle(run, r),
      (err: unknown) => {
        this.o.diagnostics.warn('exporter-error', `the exporter failed: ${String(err)}; ${run.size} spans failed`, run.size);
        this.settle(run, { exported: 0, rejected: 0, failed: run.size });
      },
    );
  }

  private settle(run: Running, r: ExportResult): void {
    if (run.settled) return; // already counted as failed by the shutdown deadline
    run.settled = true;
    this.running.delete(run);
    this.inFlight -= run.size;
    // Trust but verify: whatever an exporter reports, the batch's spans are counted once.
    const exported = clampCount(r?.exported, run.size);
    const rejected = clampCount(r?.rejected, run.size - exported);
    this.exported += exported;
    this.rejected += rejected;
    this.failed += run.size - exported - rejected;
    // Settled normally: the exporter is done with the bodies. (Not after the shutdown deadline,
    // when a write may still be in progress.)
    if (run.bodies !== undefined) this.o.release!(run.bodies);
    this.wake();
    this.pump();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    let oldest = this.dequeued;
    for (const r of this.running) if (r.first < oldest) oldest = r.first;
    this.waiters = this.waiters.filter((w) => {
      if (oldest >= w.mark) {
        w.resolve();
        return false;
      }
      return true;
    });
    if (this.waiters.length === 0) this.release();
  }

  private release(): void {
    if (this.hold !== undefined) clearTimeout(this.hold);
    this.hold = undefined;
  }

  /** Resolves when every span queued before the call is delivered or accounted for. */
  forceFlush(): Promise<void> {
    const mark = this.enqueued;
    if (this.drainTo < mark) this.drainTo = mark;
    return new Promise<void>((resolve) => {
      const waiter = { mark, resolve };
      this.waiters.push(waiter);
      this.pump();
      this.wake();
      if (mark > this.heldTo && this.waiters.includes(waiter)) {
        this.heldTo = mark;
        this.release();
        this.hold = setTimeout(() => (this.hold = undefined), FLUSH_HOLD_MILLIS);
      }
    });
  }

  /** Stop accepting, flush, and give up at the deadline; idempotent. */
  shutdown(deadlineMillis: number): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      let t: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        t = setTimeout(resolve, deadlineMillis);
      });
      await Promise.race([this.forceFlush(), deadline]);
      clearTimeout(t);
      this.reportDrops();
      this.giveUp();
      try {
        await this.o.exporter.shutdown?.();
      } catch {
        /* shutting down anyway */
      }
      this.o.diagnostics.flush();
    })();
    return this.closing;
  }

  /** What the deadline left: queued spans are dropped, in-flight ones failed, I/O aborted. */
  private giveUp(): void {
    const left = this.enqueued - this.dequeued;
    if (left > 0) {
      this.dropped += left;
      this.dequeued += left;
      this.chunks = [[]];
    }
    let stuck = 0;
    for (const run of this.running) {
      run.settled = true;
      stuck += run.size;
    }
    this.running.clear();
    if (stuck > 0) {
      this.failed += stuck;
      this.inFlight -= stuck;
    }
    if (left + stuck > 0) {
      const parts: string[] = [];
      if (left > 0) parts.push(`${left} spans still queued (dropped)`);
      if (stuck > 0) parts.push(`${stuck} spans in flight (counted as failed)`);
      this.o.diagnostics.warn('shutdown', `shutdown deadline passed with ${parts.join(' and ')}`, left + stuck);
    }
    this.abort.abort();
    this.wake();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.release();
  }

  /** How many spans are waiting, for beforeExit flushing. */
  get pending(): number {
    return this.enqueued - this.dequeued + this.inFlight;
  }

  stats(): ExportStats {
    return {
      ended: this.ended,
      queued: this.enqueued - this.dequeued,
      inFlight: this.inFlight,
      exported: this.exported,
      dropped: this.dropped,
      rejected: this.rejected,
      failed: this.failed,
      retries: this.retries,
      bytesSent: this.bytesSent,
    };
  }
}

function clampCount(v: unknown, max: number): number {
  const n = typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : 0;
  return n < 0 ? 0 : n > max ? max : n;
}
