// The batching processor: a bounded queue (./span-queue.ts) between the request path and the
// exporter. Ending a span costs a push; batches are cut, encoded and sent later, from a timer
// or an immediate, two at most in flight. It owns every count, so stats add up whatever the
// exporter does:
//   exported + dropped + rejected + failed + queued + inFlight = ended.
import type { ReadableSpan, Span } from '../trace/span.js';
import type { Diagnostics } from '../util/diagnostics.js';
import type { ResolvedConfig } from '../config/config.js';
import type { ExportBatch, ExportResult, SpanExporter } from './exporter.js';
import { unrefTimer } from '../platform/transport.js';
import { reusableBuffer, type OnDropped } from '../otlp-json/encode.js';
import { SpanQueue } from './span-queue.js';
import { errorText } from '../util/text.js';

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
  /**
   * Request body bytes as sent (after compression), retries included, of the requests that got
   * a response: a body sent to an endpoint that never answered may never have arrived.
   */
  bytesSent: number;
}

export interface Batcher {
  add(span: Span): void;
  /** Resolves when every span queued before the call is delivered or accounted for. */
  forceFlush(): Promise<void>;
  /** Stop accepting, flush, and give up at the deadline; resolves by the deadline; idempotent. */
  shutdown(deadlineMillis: number): Promise<void>;
  /**
   * The process is exiting: what is queued or in flight is lost now; count it and say so
   * (synchronously, from an 'exit' handler).
   */
  abandon(): void;
  stats(): ExportStats;
}

/**
 * Encodes spans into a body, taking a free buffer from `pool` when one is big enough; a span too
 * big to send is left out and told to `onDropped`.
 */
export type Encode = (spans: readonly Span[], pool: Uint8Array[], onDropped: OnDropped) => Uint8Array;

export interface BatcherOptions {
  config: Pick<ResolvedConfig, 'maxQueueSize' | 'maxExportBatchSize' | 'scheduledDelayMillis'>;
  exporter: SpanExporter;
  /**
   * The exporter holds no body once a batch settles, so the bodies' buffers serve later
   * batches (see BODY_POOL_SIZE).
   */
  reusableBodies: boolean;
  encode: Encode;
  diagnostics: Diagnostics;
}

/** Batches in flight at most: one being answered while the next is encoded and sent. */
const MAX_IN_FLIGHT = 2;
/**
 * Body buffers kept for reuse, each at least 64 KB (smaller ones may share Node's slab): no
 * 250 KB allocation per batch (peer e2e 3.38 -> 2.90 us/span).
 */
const BODY_POOL_SIZE = 4;
/** How long an awaited flush may hold the process open (see forceFlush). */
const FLUSH_HOLD_MILLIS = 3000;

const defer: (fn: () => void) => unknown = typeof setImmediate === 'function' ? setImmediate : setTimeout;

/** A pending flush: told the oldest unaccounted sequence number, resolves once that is past its mark. */
interface FlushWaiter {
  mark: number;
  resolve(): void;
}

export class BatchProcessor implements Batcher {
  readonly #exporter: SpanExporter;
  readonly #reusableBodies: boolean;
  readonly #encode: Encode;
  readonly #diagnostics: Diagnostics;
  readonly #maxQueueSize: number;
  readonly #scheduledDelayMillis: number;
  readonly #queue: SpanQueue;
  /**
   * Batches handed to the exporter and not settled (nor given up at the shutdown deadline), with
   * the sequence number of each one's first span: a flush waits on what came before its mark.
   */
  readonly #running = new Map<Span[], number>();
  readonly #abort = new AbortController();
  /** Free body buffers for the encoder. */
  readonly #pool: Uint8Array[] = [];
  #ended = 0;
  #exported = 0;
  #dropped = 0;
  #rejected = 0;
  #failed = 0;
  #retries = 0;
  #bytesSent = 0;
  /** Spans dropped on a full queue since the last report (reported off the request path). */
  #unreportedDrops = 0;
  /** Send everything up to this sequence number now, without waiting for full batches. */
  #drainTo = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pumpScheduled = false;
  #waiters: FlushWaiter[] = [];
  #closing: Promise<void> | undefined;
  /** The ref'd timer that holds the process while a flush is awaited; and the mark it was granted for. */
  #hold: ReturnType<typeof setTimeout> | undefined;
  #heldTo = 0;
  /** Bound once, so arming the timer or deferring the pump allocates nothing per span. */
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#drainTo = this.#queue.pushed;
    this.#pump();
  };
  readonly #onDeferredPump = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  constructor(options: BatcherOptions) {
    const { config } = options;
    this.#exporter = options.exporter;
    this.#reusableBodies = options.reusableBodies;
    this.#encode = options.encode;
    this.#diagnostics = options.diagnostics;
    this.#maxQueueSize = config.maxQueueSize;
    this.#scheduledDelayMillis = config.scheduledDelayMillis;
    this.#queue = new SpanQueue(config.maxExportBatchSize, config.maxQueueSize);
  }

  /**
   * The request path's only cost: a push, and a timer armed once per batch. A full queue costs
   * two increments; the drops are reported later, from the pump (a timer is always armed or an
   * export running while the queue is full).
   */
  add(span: Span): void {
    this.#ended++;
    if (this.#closing) {
      this.#dropped++;
      this.#diagnostics.warn('after-shutdown', 'span ended after shutdown; 1 span dropped', 1);
      return;
    }
    if (this.#queue.isFull) {
      this.#dropped++;
      this.#unreportedDrops++;
      return;
    }
    if (!this.#queue.push(span)) {
      if (!this.#timer) this.#arm();
    } else if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      defer(this.#onDeferredPump);
    }
  }

  forceFlush(): Promise<void> {
    // (drainTo only ever takes values of pushed, which only grows: this never lowers it.)
    const mark = (this.#drainTo = this.#queue.pushed);
    return new Promise<void>((resolve) => {
      const waiter: FlushWaiter = { mark, resolve };
      this.#waiters.push(waiter);
      this.#pump();
      this.#wake();
      // An awaited flush holds the process open (a ref'd timer) 3 s at most, so a script that
      // awaits it is not abandoned mid-await (sockets and retry timers are unref'd). The hold is
      // granted once per new span: a flush repeated with nothing new (beforeExit fires again
      // when the hold ends) does not extend it, so the process exits.
      if (mark > this.#heldTo && this.#waiters.includes(waiter)) {
        this.#heldTo = mark;
        clearTimeout(this.#hold);
        this.#hold = setTimeout(() => undefined, FLUSH_HOLD_MILLIS);
      }
    });
  }

  shutdown(deadlineMillis: number): Promise<void> {
    this.#closing ??= this.#shutdown(deadlineMillis);
    return this.#closing;
  }

  async #shutdown(deadlineMillis: number): Promise<void> {
    const deadline = performance.now() + deadlineMillis;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await withinMillis(this.forceFlush(), deadlineMillis);
    this.#reportDrops();
    this.#giveUp('shutdown deadline passed');
    this.#abort.abort();
    // The exporter's own shutdown (closing sockets, the recording file) gets what is left of the
    // deadline: a custom one that never settles must not hold shutdown.
    const exporterDone = new Promise<void>((resolve) => resolve(this.#exporter.shutdown?.())).catch(() => undefined);
    await withinMillis(exporterDone, Math.max(0, deadline - performance.now()));
    this.#diagnostics.flush();
  }

  abandon(): void {
    this.#reportDrops();
    this.#giveUp('process exiting');
    this.#diagnostics.flush();
  }

  /** What is left is lost: queued spans are dropped, in-flight ones failed, pending flushes released. */
  #giveUp(why: string): void {
    const left = this.#queue.clear();
    const stuck = this.#inFlight();
    this.#dropped += left;
    this.#failed += stuck;
    this.#running.clear();
    if (left + stuck) {
      const message =
        `${why} with ${left} spans still queued (dropped) and ${stuck} spans in flight (counted as failed)`;
      this.#diagnostics.warn('shutdown', message, left + stuck);
    }
    this.#wake(Infinity);
  }

  stats(): ExportStats {
    return {
      ended: this.#ended,
      queued: this.#queue.length,
      inFlight: this.#inFlight(),
      exported: this.#exported,
      dropped: this.#dropped,
      rejected: this.#rejected,
      failed: this.#failed,
      retries: this.#retries,
      bytesSent: this.#bytesSent,
    };
  }

  #inFlight(): number {
    let count = 0;
    for (const spans of this.#running.keys()) count += spans.length;
    return count;
  }

  #arm(): void {
    this.#timer = setTimeout(this.#onTimer, this.#scheduledDelayMillis);
    unrefTimer(this.#timer);
  }

  #reportDrops(): void {
    const count = this.#unreportedDrops;
    this.#unreportedDrops = 0;
    if (count) {
      const message = `export queue full (${this.#maxQueueSize} spans), endpoint too slow; ${count} spans dropped`;
      this.#diagnostics.warn('queue-full', message, count);
    }
  }

  /** Starts what may start: whole batches, or anything older than the drain mark. */
  #pump(): void {
    this.#reportDrops();
    const queue = this.#queue;
    while (
      this.#running.size < MAX_IN_FLIGHT &&
      queue.length > 0 &&
      (queue.hasFullBatch || queue.taken < this.#drainTo)
    ) {
      const first = queue.taken;
      this.#start(queue.takeBatch(), first);
    }
    if (queue.length > 0 && !this.#timer && !this.#closing) this.#arm();
  }

  #start(spans: Span[], first: number): void {
    const size = spans.length;
    /** Bodies encoded for it, when the exporter lets them be reused. */
    const bodies: Uint8Array[] = [];
    /** Spans the encoder left out (too big to send): dropped, and counted once however often encoded. */
    const unsendable = new Set<Span>();
    const dropUnsendable = (span: Span, why: string): void => {
      if (unsendable.has(span)) return;
      unsendable.add(span);
      const name = JSON.stringify(span.name.slice(0, 100));
      this.#diagnostics.warn('span-dropped', `span ${name} ${why}; 1 span dropped`, 1);
    };
    this.#running.set(spans, first);
    const batch: ExportBatch = {
      spans,
      encode: (subset?: readonly ReadableSpan[]) => {
        // (the exporter hands back spans of this batch: the same objects)
        const body = this.#encode((subset as readonly Span[] | undefined) ?? spans, this.#pool, dropUnsendable);
        if (this.#reusableBodies) bodies.push(body);
        return body;
      },
      signal: this.#abort.signal,
      attempted: (bytes, isRetry) => {
        if (!this.#running.has(spans)) return;
        this.#bytesSent += bytes;
        if (isRetry) this.#retries++;
      },
    };
    /** `result` undefined: the whole batch failed. */
    const settle = (result?: ExportResult): void => {
      // Not running: already counted as failed by the shutdown deadline.
      if (!this.#running.delete(spans)) return;
      // Trust but verify: whatever an exporter reports, the batch's spans are counted once.
      const sendable = size - unsendable.size;
      this.#dropped += unsendable.size;
      const exported = clampCount(result?.exported, sendable);
      const rejected = clampCount(result?.rejected, sendable - exported);
      this.#exported += exported;
      this.#rejected += rejected;
      this.#failed += sendable - exported - rejected;
      // Settled normally: the exporter is done with the bodies. (Not after the shutdown deadline,
      // when a write may still be in progress.)
      for (const body of bodies) {
        const whole = this.#pool.length < BODY_POOL_SIZE ? reusableBuffer(body) : undefined;
        if (whole) this.#pool.push(whole);
      }
      this.#wake();
      this.#pump();
    };
    // A throwing export() counts like a rejecting one.
    new Promise<ExportResult>((resolve) => resolve(this.#exporter.export(batch))).then(settle, (err: unknown) => {
      this.#diagnostics.warn('exporter-error', `exporter failed: ${errorText(err)}; ${size} spans failed`, size);
      settle();
    });
  }

  /** Resolves the flushes whose spans are all accounted for (all of them, with `oldest` Infinity). */
  #wake(oldest: number = this.#queue.taken): void {
    if (this.#waiters.length === 0) return;
    for (const first of this.#running.values()) if (first < oldest) oldest = first;
    const pending: FlushWaiter[] = [];
    for (const waiter of this.#waiters) {
      if (oldest >= waiter.mark) waiter.resolve();
      else pending.push(waiter);
    }
    this.#waiters = pending;
    if (pending.length === 0) clearTimeout(this.#hold);
  }
}

/** Waits for `promise`, `millis` at most (a ref'd timer: an awaited shutdown holds the process). */
async function withinMillis(promise: Promise<unknown>, millis: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, millis)))]);
  clearTimeout(timer);
}

/** A whole count from 0 to max, whatever an exporter reported (NaN, Infinity, a string: 0). */
function clampCount(value: unknown, max: number): number {
  return Math.max(0, Math.min(max, typeof value === 'number' && value < Infinity ? Math.floor(value) : 0));
}
