// The tracer: configuration made concrete (clock, ids, sampler, exporter pipeline) and the
// lifecycle around it (open-span timeouts, flush, shutdown, beforeExit). The middlewares
// build spans with it; it never touches the host's objects.
import { makeClock, type Clock } from './clock.js';
import { makeIdSource, sampledByRatio, type IdSource } from './ids.js';
import { StatusCode, exceptionAttributes, type Span } from './span.js';
import { SpanEncoder } from '../otlp-json/encode.js';
import { BatchProcessor, type Batcher, type Encode, type ExportStats } from '../export/batcher.js';
import { makeExporter } from '../export/make-exporter.js';
import { isNode, unrefTimer as unref } from '../platform/transport.js';
import { makeDiagnostics, type Diagnostics } from '../util/diagnostics.js';
import { NAME, errorText } from '../util/text.js';
import type { ResolvedConfig } from '../config/config.js';
import { VERSION } from '../util/version.js';

/** Pipelines of active tracers, whose spans a beforeExit should still flush (Node only). */
const live = new Set<Batcher>();
let exitHookInstalled = false;

/** A table of open spans, as the timeout sweep sees it. */
export interface SpanTable {
  /** Removes and returns the spans started before `before` (clock reading), oldest first. */
  takeStarted(before: number): Span[];
}

export class Tracer {
  readonly config: ResolvedConfig;
  readonly clock: Clock;
  /** Its functions need no `this`: hooks hand `ids.traceId` around as a plain function. */
  readonly ids: IdSource;
  /** Request spans carry their span_key unchecked until export (see Span.resolve). */
  readonly lazyKeys: boolean;
  readonly diagnostics: Diagnostics;
  /** False when disabled, sampled off entirely, or shut down: hooks pass through. */
  active: boolean;
  #batcher: Batcher;
  /** Tables of open spans for the timeout sweep, each with the hook its spans wait for. */
  #tables: { table: SpanTable; endHook: string }[] = [];
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(config: ResolvedConfig) {
    this.config = config;
    this.active = config.enabled;
    this.clock = makeClock(config.clock);
    this.ids = makeIdSource(config.idGenerator);
    // With no sampler to consult and no user id generator to draw from in start order, a
    // request span's span_key can be checked later, at export.
    this.lazyKeys = config.sampler >= 1 && !config.idGenerator;
    this.diagnostics = makeDiagnostics(config.logger);
    const encoder = new SpanEncoder({
      resource: {
        'service.name': config.serviceName,
        'telemetry.sdk.name': NAME,
        'telemetry.sdk.language': 'nodejs',
        'telemetry.sdk.version': VERSION,
        ...config.resourceAttributes,
      },
      scopeName: NAME,
      scopeVersion: VERSION,
      valueLengthLimit: config.attributeValueLengthLimit,
      clock: this.clock,
    });
    const { exporter, reusableBodies } = makeExporter(config, this.diagnostics);
    const encode: Encode = (spans, pool, onDropped) => encoder.encode(spans, pool, onDropped);
    this.#batcher = new BatchProcessor({ config, exporter, reusableBodies, encode, diagnostics: this.diagnostics });
    if (config.enabled) {
      live.add(this.#batcher);
      if (!exitHookInstalled && isNode()) {
        exitHookInstalled = true;
        // beforeExit fires when the loop is empty: a last chance to send what is queued. A request
        // revives the loop; once nothing is pending it fires again, does nothing, and the process exits.
        process.on('beforeExit', () => {
          // (A flush with nothing pending does nothing.)
          for (const batcher of live) void batcher.forceFlush();
        });
        // Exiting with spans still queued or in flight (a flush's hold ran out): count and report them.
        process.on('exit', () => {
          for (const batcher of live) batcher.abandon();
        });
      }
    }
  }

  sampled(traceId: string): boolean {
    return sampledByRatio(traceId, this.config.sampler);
  }

  /** Registers a table of open spans for the timeout sweep; `endHook` is the hook its spans wait for. */
  watch(table: SpanTable, endHook: string): void {
    this.#tables.push({ table, endHook });
    if (!this.#sweepTimer && this.active) {
      const every = Math.max(50, Math.min(5000, this.config.spanTimeoutMillis / 4));
      this.#sweepTimer = setInterval(() => this.sweep(), every);
      unref(this.#sweepTimer);
    }
  }

  /** Ends, as ERROR, every open span older than spanTimeoutMillis (by the tracer's clock). */
  sweep(): void {
    const ms = this.config.spanTimeoutMillis;
    try {
      const before = this.clock.now() - ms * 1e6;
      for (const { table, endHook } of this.#tables) {
        for (const span of table.takeStarted(before)) {
          this.fail(span, `no ${endHook} within ${ms} ms; span ended by timeout`);
        }
      }
    } catch (err) {
      this.diagnostics.warn('internal', `open-span sweep failed: ${errorText(err)}`);
    }
  }

  end(span: Span): void {
    span.end = this.clock.now();
    this.#batcher.add(span);
  }

  /** Ends a span as ERROR with a message and, for an error object, an `exception` event. */
  fail(span: Span, message: string, error?: unknown): void {
    span.statusCode = StatusCode.ERROR;
    span.statusMessage = message;
    const now = this.clock.now();
    if (error !== undefined) span.addEvent('exception', now, exceptionAttributes(error));
    span.end = now;
    this.#batcher.add(span);
  }

  forceFlush(): Promise<void> {
    return this.#batcher.forceFlush();
  }

  stats(): ExportStats {
    return this.#batcher.stats();
  }

  /** Stops tracing (hooks become pass-through), flushes within the deadline; idempotent. */
  shutdown(): Promise<void> {
    this.active = false;
    live.delete(this.#batcher);
    clearInterval(this.#sweepTimer);
    return this.#batcher.shutdown(this.config.shutdownTimeoutMillis);
  }
}
