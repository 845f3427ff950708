// The batching processor: a bounded queue between the request path and the exporter. Ending a
// span costs a push; batches are cut, encoded and sent later, from a timer or an immediate.
// It owns every count, so stats add up whatever the exporter does:
//   exported + dropped + rejected + failed + queued + inFlight = ended.
import type { Span } from '../trace/span.js';
import type { Diagnostics } from '../util/diagnostics.js';
import type { ResolvedConfig } from '../config/config.js';
import type { ExportBatch, ExportResult, SpanExporter } from './exporter.js';
import { unref } from './exporter.js';
import { reusableBuffer, type OnDropped } from '../otlp-json/encode.js';

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

export interface Batcher {
  add(span: Span): void;
  /** Resolves when every span queued before the call is delivered or accounted for. */
  forceFlush(): Promise<void>;
  /** Stop accepting, flush, and give up at the deadline; idempotent. */
  shutdown(deadlineMillis: number): Promise<void>;
  stats(): ExportStats;
}

/**
 * Encodes spans into a body, taking a free buffer from `pool` when one is big enough; a span too
 * big to send is left out and told to `onDropped`.
 */
export type Encode = (spans: readonly Span[], pool: Uint8Array[], onDropped: OnDropped) => Uint8Array;

const defer: (fn: () => void) => unknown = typeof setImmediate === 'function' ? setImmediate : setTimeout;

/**
 * `reusable`: the exporter holds no body once a batch settles, so the bodies' buffers serve later
 * batches (at most 4 kept, each at least 64 KB: smaller ones may share Node's slab).
 */
export function makeBatcher(
  config: Pick<ResolvedConfig, 'maxQueueSize' | 'maxExportBatchSize' | 'scheduledDelayMillis'>,
  exporter: SpanExporter,
  reusable: boolean,
  encode: Encode,
  diagnostics: Diagnostics,
): Batcher {
  const { maxQueueSize, maxExportBatchSize, scheduledDelayMillis } = config;
  /**
   * The queue, as batch-sized chunks (the last one, `tail`, is being filled): a batch is taken with one
   * shift of a short array, never a splice of a long one.
   */
  let tail: Span[] = [];
  let chunks: Span[][] = [tail];
  /**
   * Batches handed to the exporter and not settled (nor given up at the shutdown deadline), with
   * the sequence number of each one's first span: a flush waits on what came before its mark.
   */
  const running = new Map<Span[], number>();
  const abort = new AbortController();
  const pool: Uint8Array[] = [];
  let ended = 0;
  let exported = 0;
  let dropped = 0;
  let rejected = 0;
  let failed = 0;
  let retries = 0;
  let bytesSent = 0;
  /** Spans dropped on a full queue since the last report (reported off the request path). */
  let unreportedDrops = 0;
  /** Spans ever accepted into the queue, and ever taken out of it. */
  let enqueued = 0;
  let dequeued = 0;
  /** Send everything up to this sequence number now, without waiting for full batches. */
  let drainTo = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pumpScheduled = false;
  /**
   * Pending flushes: each is given the oldest unsettled sequence number and, once that is past
   * its mark, resolves its promise and says true.
   */
  let waiters: ((oldest: number) => boolean)[] = [];
  let closing: Promise<void> | undefined;
  /** The ref'd timer that holds the process while a flush is awaited; and the mark it was granted for. */
  let hold: ReturnType<typeof setTimeout> | undefined;
  let heldTo = 0;

  const inFlight = (): number => {
    let n = 0;
    for (const spans of running.keys()) n += spans.length;
    return n;
  };

  const arm = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      drainTo = enqueued;
      pump();
    }, scheduledDelayMillis);
    unref(timer);
  };

  const reportDrops = (): void => {
    const n = unreportedDrops;
    unreportedDrops = 0;
    if (n) diagnostics.warn('queue-full', `export queue full (${maxQueueSize} spans), endpoint too slow; ${n} spans dropped`, n);
  };

  const pump = (): void => {
    reportDrops();
    while (running.size < 2 /* requests in flight at most */ && enqueued > dequeued && (chunks[0]!.length >= maxExportBatchSize || dequeued < drainTo)) {
      const spans = chunks.shift()!;
      if (!chunks.length) chunks.push((tail = []));
      start(spans);
    }
    if (enqueued > dequeued && !timer && !closing) arm();
  };

  const start = (spans: Span[]): void => {
    const size = spans.length;
    /** Bodies encoded for it, when the exporter lets them be reused. */
    const bodies: Uint8Array[] = [];
    /** Spans the encoder left out (too big to send): dropped, and counted once however often encoded. */
    const unsendable = new Set<Span>();
    const dropUnsendable = (span: Span, why: string): void => {
      if (unsendable.has(span)) return;
      unsendable.add(span);
      diagnostics.warn('span-dropped', `span ${JSON.stringify(span.name.slice(0, 100))} ${why}; 1 span dropped`, 1);
    };
    running.set(spans, dequeued);
    dequeued += size;
    const batch: ExportBatch = {
      spans,
      encode: (subset?: readonly Span[]) => {
        const body = encode(subset ?? spans, pool, dropUnsendable);
        if (reusable) bodies.push(body);
        return body;
      },
      signal: abort.signal,
      attempted: (bytes, isRetry) => {
        if (!running.has(spans)) return;
        bytesSent += bytes;
        if (isRetry) retries++;
      },
    };
    /** `r` undefined: the whole batch failed. */
    const settle = (r?: ExportResult): void => {
      // Not running: already counted as failed by the shutdown deadline.
      if (!running.delete(spans)) return;
      // Trust but verify: whatever an exporter reports, the batch's spans are counted once.
      const sendable = size - unsendable.size;
      dropped += unsendable.size;
      const ok = clampCount(r?.exported, sendable);
      const bad = clampCount(r?.rejected, sendable - ok);
      exported += ok;
      rejected += bad;
      failed += sendable - ok - bad;
      // Settled normally: the exporter is done with the bodies. (Not after the shutdown deadline,
      // when a write may still be in progress.)
      for (const body of bodies) {
        const whole = pool.length < 4 ? reusableBuffer(body) : undefined;
        if (whole) pool.push(whole);
      }
      wake();
      pump();
    };
    // A throwing export() counts like a rejecting one.
    new Promise<ExportResult>((resolve) => resolve(exporter.export(batch))).then(settle, (err: unknown) => {
      diagnostics.warn('exporter-error', `exporter failed: ${String(err)}; ${size} spans failed`, size);
      settle();
    });
  };

  /** Resolves the flushes whose spans are all accounted for (all of them, with `oldest` Infinity). */
  const wake = (oldest = dequeued): void => {
    if (!waiters.length) return;
    for (const first of running.values()) if (first < oldest) oldest = first;
    waiters = waiters.filter((done) => !done(oldest));
    if (!waiters.length) clearTimeout(hold);
  };

  const forceFlush = (): Promise<void> => {
    // (drainTo only ever takes values of enqueued, which only grows: this never lowers it.)
    const mark = (drainTo = enqueued);
    return new Promise<void>((resolve) => {
      const done = (oldest: number): boolean => oldest >= mark && (resolve(), true);
      waiters.push(done);
      pump();
      wake();
      // An awaited flush holds the process open (a ref'd timer) 3 s at most, so a script that
      // awaits it is not abandoned mid-await while an export waits out a retry backoff (those
      // timers are unref'd). The hold is granted once per new span: a flush repeated with nothing
      // new (beforeExit fires again when the hold ends) does not extend it, so the process exits.
      if (mark > heldTo && waiters.includes(done)) {
        heldTo = mark;
        clearTimeout(hold);
        hold = setTimeout(() => {}, 3000);
      }
    });
  };

  return {
    /**
     * The request path's only cost: a push, and a timer armed once per batch. A full queue costs
     * two increments; the drops are reported later, from the pump (a timer is always armed or an
     * export running while the queue is full).
     */
    add(span) {
      ended++;
      if (enqueued - dequeued >= maxQueueSize || closing) {
        dropped++;
        if (!closing) unreportedDrops++;
        else diagnostics.warn('after-shutdown', 'span ended after shutdown; 1 span dropped', 1);
        return;
      }
      if (tail.length >= maxExportBatchSize) chunks.push((tail = []));
      tail.push(span);
      enqueued++;
      if (tail.length < maxExportBatchSize) {
        if (!timer) arm();
      } else if (!pumpScheduled) {
        pumpScheduled = true;
        defer(() => {
          pumpScheduled = false;
          pump();
        });
      }
    },

    forceFlush,

    shutdown(deadlineMillis) {
      closing ??= (async () => {
        clearTimeout(timer);
        timer = undefined;
        let deadline: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([forceFlush(), new Promise((resolve) => (deadline = setTimeout(resolve, deadlineMillis)))]);
        clearTimeout(deadline);
        reportDrops();
        // What the deadline left: queued spans are dropped, in-flight ones failed, I/O aborted.
        const left = enqueued - dequeued;
        const stuck = inFlight();
        dropped += left;
        dequeued = enqueued;
        chunks = [(tail = [])];
        failed += stuck;
        running.clear();
        if (left + stuck) {
          diagnostics.warn('shutdown', `shutdown deadline passed with ${left} spans still queued (dropped) and ${stuck} spans in flight (counted as failed)`, left + stuck);
        }
        abort.abort();
        wake(Infinity);
        try {
          await exporter.shutdown?.();
        } catch {
          /* shutting down anyway */
        }
        diagnostics.flush();
      })();
      return closing;
    },

    stats: () => ({
      ended,
      queued: enqueued - dequeued,
      inFlight: inFlight(),
      exported,
      dropped,
      rejected,
      failed,
      retries,
      bytesSent,
    }),
  };
}

/** A whole count from 0 to max, whatever an exporter reported (NaN, Infinity, a string: 0). */
function clampCount(v: unknown, max: number): number {
  return Math.max(0, Math.min(max, typeof v === 'number' && v < Infinity ? Math.floor(v) : 0));
}
