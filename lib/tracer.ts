// The tracer: configuration made concrete (clock, ids, sampler, exporter pipeline) and the
// lifecycle around it (open-span timeouts, flush, shutdown, beforeExit). The middlewares
// build spans with it; it never touches the host's objects.
import { makeClock, type Clock } from './clock.js';
import { makeIdSource, sampledByRatio } from './ids.js';
import { Span, StatusCode, exceptionAttributes } from './span.js';
import { encodeBatchBytes, envelope, reusableBuffer, type EncoderOptions } from './encode.js';
import { Batcher, type ExportStats } from './batcher.js';
import { HttpExporter, InMemoryExporter, isNode, unref, type ExportBatch, type ExportResult, type SpanExporter } from './exporter.js';
import { Diagnostics } from './log.js';
import type { ResolvedConfig } from './config.js';
import type { OpenSpans } from './open-spans.js';
import { VERSION } from './version.js';

export const SCOPE_NAME = 'ekosis-otlp-traces';

/** Tracers with spans that a beforeExit should still flush (Node only). */
const live = new Set<Tracer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled || !isNode()) return;
  exitHookInstalled = true;
  const proc = (globalThis as unknown as { process: { on(ev: string, fn: () => void): void } }).process;
  // beforeExit fires when the loop is empty: a last chance to send what is queued. A request
  // revives the loop; once nothing is pending it fires again, does nothing, and the process exits.
  proc.on('beforeExit', () => {
    for (const t of live) if (t.pending > 0) void t.forceFlush();
  });
}

export class Tracer {
  readonly config: ResolvedConfig;
  readonly clock: Clock;
  readonly ids: { traceId(): string; spanId(): string };
  /** Request spans carry their span_key unchecked until export (see Span.resolve). */
  readonly lazyKeys: boolean;
  readonly diagnostics: Diagnostics;
  /** False when disabled, sampled off entirely, or shut down: hooks pass through. */
  active: boolean;
  private readonly batcher: Batcher;
  private readonly tables: { table: OpenSpans; describe: string }[] = [];
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly timeoutNs: number;
  private closing: Promise<void> | undefined;

  constructor(config: ResolvedConfig) {
    this.config = config;
    this.active = config.enabled;
    this.clock = makeClock(config.clock);
    const ids = makeIdSource(config.idGenerator);
    // Bound, so hooks can hand `ids.traceId` around as a plain function.
    this.ids = { traceId: ids.traceId.bind(ids), spanId: ids.spanId.bind(ids) };
    // With no sampler to consult and no user id generator to draw from in start order, a
    // request span's span_key can be checked later, at export.
    this.lazyKeys = config.sampler >= 1 && config.idGenerator === undefined;
    this.diagnostics = new Diagnostics(config.logger);
    this.timeoutNs = config.spanTimeoutMillis * 1e6;
    const enc: EncoderOptions = {
      resource: {
        'service.name': config.serviceName,
        'telemetry.sdk.name': SCOPE_NAME,
        'telemetry.sdk.language': 'nodejs',
        'telemetry.sdk.version': VERSION,
        ...config.resourceAttributes,
      },
      scopeName: SCOPE_NAME,
      scopeVersion: VERSION,
      valueLengthLimit: config.attributeValueLengthLimit,
      clock: this.clock,
    };
    const env = envelope(enc);
    const { exporter, reusable } = this.makeExporter();
    this.batcher = new Batcher({
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: config.maxExportBatchSize,
      scheduledDelayMillis: config.scheduledDelayMillis,
      maxConcurrentExports: 2,
      exporter,
      encode: (spans) => encodeBatchBytes(spans, enc, env, this.bodyPool),
      // The built-in exporters are done with a body once its batch settles (the recorder copies
      // what it writes), so its buffer serves a later batch: no 250 KB allocation per batch.
      release: reusable ? (bodies) => this.reuse(bodies) : undefined,
      diagnostics: this.diagnostics,
    });
    if (this.active) {
      live.add(this);
      installExitHook();
    }
  }

  /** Free body buffers (at most 4, each at least 64 KB: smaller ones may share Node's slab). */
  private readonly bodyPool: Uint8Array[] = [];
  private reuse(bodies: Uint8Array[]): void {
    for (const b of bodies) {
      const whole = this.bodyPool.length < 4 ? reusableBuffer(b) : undefined;
      if (whole !== undefined) this.bodyPool.push(whole);
    }
  }

  /**
   * The exporter, with recording around it when asked for; `reusable` when it is done with a
   * batch's body once the batch settles (the built-in ones: the recorder writes a copy).
   */
  private makeExporter(): { exporter: SpanExporter; reusable: boolean } {
    const c = this.config;
    let record: ((json: Uint8Array) => Promise<void>) | undefined;
    let closeRecord: (() => Promise<void>) | undefined;
    if (c.recordPayloadsTo !== undefined && c.enabled) {
      const path = c.recordPayloadsTo;
      // node:fs is loaded only when recording is asked for.
      const file = import('./recorder.js').then((m) => new m.PayloadFile(path, (msg) => this.diagnostics.warn('record', msg)));
      record = async (json) => (await file).append(json);
      closeRecord = async () => (await file).close();
    }
    if (c.exporter === undefined) {
      const http = new HttpExporter({
        url: c.endpoint,
        headers: c.headers,
        timeoutMillis: c.timeoutMillis,
        compression: c.compression,
        retry: c.retry,
        diagnostics: this.diagnostics,
        onPayload: record,
      });
      if (!closeRecord) return { exporter: http, reusable: true };
      return { exporter: { export: (b) => http.export(b), shutdown: async () => (http.shutdown(), closeRecord!()) }, reusable: true };
    }
    const inner = c.exporter;
    if (!record) return { exporter: inner, reusable: inner instanceof InMemoryExporter };
    // A replaced exporter still gets its payloads recorded, exactly as encoded.
    const exporter: SpanExporter = {
      export: async (b: ExportBatch): Promise<ExportResult> => {
        await record!(b.encode()).catch(() => undefined);
        return inner.export(b);
      },
      shutdown: async () => {
        await inner.shutdown?.();
        await closeRecord!();
      },
    };
    return { exporter, reusable: false };
  }

  sampled(traceId: string): boolean {
    return sampledByRatio(traceId, this.config.sampler);
  }

  /** Registers a table of open spans for the timeout sweep. */
  watch(table: OpenSpans, describe: string): void {
    this.tables.push({ table, describe });
    if (this.sweepTimer === undefined && this.active) {
      const every = Math.max(50, Math.min(5000, this.config.spanTimeoutMillis / 4));
      this.sweepTimer = setInterval(() => this.sweep(), every);
      unref(this.sweepTimer);
    }
  }

  /** Ends, as ERROR, every open span older than spanTimeoutMillis (by the tracer's clock). */
  sweep(): void {
    try {
      const before = this.clock.now() - this.timeoutNs;
      for (const { table, describe } of this.tables) {
        for (const span of table.takeStarted(before)) {
          this.fail(span, `no ${describe} within ${this.config.spanTimeoutMillis} ms; span ended by timeout`);
        }
      }
    } catch (err) {
      this.diagnostics.warn('internal', `open-span sweep failed: ${String(err)}`);
    }
  }

  end(span: Span): void {
    span.end = this.clock.now();
    this.batcher.add(span);
  }

  /** Ends a span as ERROR with a message and, for an error object, an `exception` event. */
  fail(span: Span, message: string, error?: unknown): void {
    span.statusCode = StatusCode.ERROR;
    span.statusMessage = message;
    const t = this.clock.now();
    if (error !== undefined) span.addEvent('exception', t, exceptionAttributes(error));
    span.end = t;
    this.batcher.add(span);
  }

  get pending(): number {
    return this.batcher.pending;
  }

  forceFlush(): Promise<void> {
    return this.batcher.forceFlush();
  }

  stats(): ExportStats {
    return this.batcher.stats();
  }

  /** Stops tracing (hooks become pass-through), flushes within the deadline; idempotent. */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      this.active = false;
      live.delete(this);
      if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      await this.batcher.shutdown(this.config.shutdownTimeoutMillis);
    })();
    return this.closing;
  }
}

export { InMemoryExporter };
