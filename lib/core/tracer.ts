// The core tracer: spans started and ended by the caller, nothing else. Built from the same
// pieces as the main entry's tracer (span model, encoder, batch processor, HTTP exporter), so
// the payloads are the same bytes and the queue, retry and shutdown bounds the same; but with
// no EcoSystem hooks, no environment ladder and the fetch transport on every runtime: a browser
// bundle holds no node: module, and on Node node:net/tls/zlib/fs are never loaded. (Unbundled,
// http-exporter.ts still imports the Node platform module as its default, and with it
// node:async_hooks; the core always passes its own platform.)
import { makeClock, type Clock } from '../trace/clock.js';
import { RandomIds, makeIdSource, type IdSource } from '../trace/ids.js';
import {
  FLAGS_LOCAL_PARENT,
  FLAGS_REMOTE_PARENT,
  Span,
  SpanKind,
  StatusCode,
  exceptionAttributes,
  type AttributeValue,
} from '../trace/span.js';
import { SpanEncoder } from '../otlp-json/encode.js';
import { BatchProcessor, type Batcher, type ExportStats } from '../export/batcher.js';
import { InMemoryExporter, type SpanExporter } from '../export/exporter.js';
import { HttpExporter } from '../export/http-exporter.js';
import type { Platform } from '../platform/platform.js';
import { isNode } from '../platform/transport.js';
import { makeDiagnostics, type Diagnostics } from '../util/diagnostics.js';
import { NAME } from '../util/text.js';
import { VERSION } from '../util/version.js';
import { resolveCoreOptions, type CoreConfig, type CoreTracerOptions } from './options.js';

export type Attributes = Readonly<Record<string, AttributeValue>>;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export interface StartSpanOptions {
  /** Default SpanKind.INTERNAL. */
  kind?: SpanKindValue;
  /** A local parent: the new span joins its trace. Takes precedence over traceId/parentSpanId. */
  parent?: CoreSpan;
  /** A remote parent's trace (32 hex), e.g. from an incoming traceparent; a new trace when omitted. */
  traceId?: string;
  /** The remote parent span (16 hex); with traceId. */
  parentSpanId?: string;
  attributes?: Attributes;
}

/** The fetch transport everywhere: the HTTP exporter loads nothing else. */
const fetchPlatform: Platform = {
  loadTransport: () => import('../platform/web/transport.js'),
  loadRecorder: () => Promise.reject(new Error('the core entry does not record payloads')),
};

const HEX32 = /^(?!0+$)[\da-f]{32}$/;
const HEX16 = /^(?!0+$)[\da-f]{16}$/;
/** Ids drawn when a user id generator fails: a span is still made. */
const fallbackIds = new RandomIds();

/** Tracers whose queued spans a beforeExit should still flush, and count at exit (Node only). */
const live = new Set<Batcher>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled || !isNode()) return;
  exitHooksInstalled = true;
  // beforeExit: the loop is empty, a last chance to send what is queued (as the main entry does).
  process.on('beforeExit', () => {
    for (const batcher of live) void batcher.forceFlush();
  });
  process.on('exit', () => {
    for (const batcher of live) batcher.abandon();
  });
}

export class CoreTracer {
  readonly config: CoreConfig;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #diagnostics: Diagnostics;
  readonly #batcher: Batcher;

  constructor(options: CoreTracerOptions) {
    const config = resolveCoreOptions(options);
    this.config = config;
    this.#clock = makeClock(config.clock);
    this.#ids = makeIdSource(config.idGenerator);
    this.#diagnostics = makeDiagnostics(config.logger);
    const encoder = new SpanEncoder({
      resource: {
        'service.name': config.serviceName,
        'telemetry.sdk.name': NAME,
        'telemetry.sdk.language': isNode() ? 'nodejs' : 'webjs',
        'telemetry.sdk.version': VERSION,
        ...config.resourceAttributes,
      },
      scopeName: NAME,
      scopeVersion: VERSION,
      valueLengthLimit: config.attributeValueLengthLimit,
      clock: this.#clock,
    });
    const exporter: SpanExporter =
      config.exporter ??
      new HttpExporter({ ...config, url: config.endpoint, diagnostics: this.#diagnostics, platform: fetchPlatform });
    this.#batcher = new BatchProcessor({
      config,
      exporter,
      // The built-in exporters hold no body once a batch settles; a user's may.
      reusableBodies: !config.exporter || config.exporter instanceof InMemoryExporter,
      encode: (spans, pool, onDropped) => encoder.encode(spans, pool, onDropped),
      diagnostics: this.#diagnostics,
    });
    live.add(this.#batcher);
    installExitHooks();
  }

  /** Starts a span now. Never throws: a bad parent id starts a new trace, and says so once. */
  startSpan(name: string, options?: StartSpanOptions): CoreSpan {
    let traceId: string;
    let parentSpanId = '';
    let flags = FLAGS_LOCAL_PARENT;
    const parent = options?.parent;
    if (parent instanceof CoreSpan) {
      traceId = parent.traceId;
      parentSpanId = parent.spanId;
    } else if (options?.traceId !== undefined) {
      const parentOk = options.parentSpanId === undefined || HEX16.test(options.parentSpanId);
      if (HEX32.test(options.traceId) && parentOk) {
        traceId = options.traceId;
        parentSpanId = options.parentSpanId ?? '';
        if (parentSpanId) flags = FLAGS_REMOTE_PARENT;
      } else {
        this.#diagnostics.warn('bad-parent', 'startSpan: traceId must be 32 and parentSpanId 16 lowercase hex, ' +
          'not all zeros; the span starts a new trace');
        traceId = this.#draw('traceId');
      }
    } else {
      traceId = this.#draw('traceId');
    }
    const kind = options?.kind;
    const span = Span.create({
      name: textOf(name),
      kind: typeof kind === 'number' && kind >= 1 && kind <= 5 ? kind : SpanKind.INTERNAL,
      traceId,
      spanId: this.#draw('spanId'),
      parentSpanId,
      flags,
      start: this.#clock.now(),
      attributes: [],
    });
    const handle = new CoreSpan(span, this.#clock, this.#batcher);
    if (options?.attributes) handle.setAttributes(options.attributes);
    return handle;
  }

  /** An id from the id source; a random one when a user generator throws or returns a bad id. */
  #draw(which: 'traceId' | 'spanId'): string {
    try {
      return this.#ids[which]();
    } catch (err) {
      this.#diagnostics.warn('id-generator', `${String(err)}; a random id is used`);
      return fallbackIds[which]();
    }
  }

  /** Resolves when every span ended before the call is delivered or accounted for. */
  forceFlush(): Promise<void> {
    return this.#batcher.forceFlush();
  }

  /** Counts that add up: exported + dropped + rejected + failed + queued + inFlight = ended. */
  stats(): ExportStats {
    return this.#batcher.stats();
  }

  /** Flushes and stops, resolving within shutdownTimeoutMillis; spans ended later are dropped. Idempotent. */
  shutdown(): Promise<void> {
    live.delete(this.#batcher);
    return this.#batcher.shutdown(this.config.shutdownTimeoutMillis);
  }
}

/**
 * A started span. Every method returns the span, for chaining; after end() they do nothing.
 * Made by CoreTracer.startSpan (the entry exports its type only).
 */
export class CoreSpan {
  readonly #span: Span;
  readonly #clock: Clock;
  /** Where end() puts the span: its tracer's export queue. */
  readonly #batcher: Batcher;

  constructor(span: Span, clock: Clock, batcher: Batcher) {
    this.#span = span;
    this.#clock = clock;
    this.#batcher = batcher;
  }

  /** 32 lowercase hex. */
  get traceId(): string {
    return this.#span.traceId;
  }

  /** 16 lowercase hex. */
  get spanId(): string {
    return this.#span.spanId;
  }

  /** False once ended. */
  get isRecording(): boolean {
    return this.#span.end === -1;
  }

  /** Sets (or replaces) one attribute; a value that cannot be an attribute is ignored. */
  setAttribute(key: string, value: AttributeValue): this {
    if (this.isRecording && typeof key === 'string' && isAttributeValue(value)) {
      const attrs = this.#span.attrs!;
      let i = 0;
      while (i < attrs.length && attrs[i] !== key) i += 2;
      attrs[i] = key;
      attrs[i + 1] = value;
    }
    return this;
  }

  setAttributes(attributes: Attributes): this {
    const flat = flatAttributes(attributes);
    for (let i = 0; i < flat.length; i += 2) this.setAttribute(flat[i] as string, flat[i + 1] as AttributeValue);
    return this;
  }

  /** A timestamped event, with attributes. */
  addEvent(name: string, attributes?: Attributes): this {
    if (this.isRecording) this.#span.addEvent(textOf(name), this.#clock.now(), flatAttributes(attributes));
    return this;
  }

  /** An `exception` event (exception.type, .message, .stacktrace); the status is left as it is. */
  recordException(error: unknown): this {
    if (this.isRecording) this.#span.addEvent('exception', this.#clock.now(), exceptionAttributes(error));
    return this;
  }

  /** The status; a message is kept only with ERROR (as OTLP says). */
  setStatus(status: { code: StatusCodeValue; message?: string }): this {
    const code = status?.code;
    if (this.isRecording && (code === StatusCode.UNSET || code === StatusCode.OK || code === StatusCode.ERROR)) {
      this.#span.statusCode = code;
      this.#span.statusMessage = code === StatusCode.ERROR && typeof status.message === 'string' ? status.message : '';
    }
    return this;
  }

  /** Ends the span now and queues it for export; a second call does nothing. */
  end(): void {
    if (!this.isRecording) return;
    this.#span.end = this.#clock.now();
    this.#batcher.add(this.#span);
  }
}

export function createTracer(options: CoreTracerOptions): CoreTracer {
  return new CoreTracer(options);
}

function isScalar(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isAttributeValue(value: unknown): value is AttributeValue {
  return isScalar(value) || typeof value === 'bigint' || (Array.isArray(value) && value.every(isScalar));
}

/** key, value, … of the attributes that can be read and kept (a throwing getter is skipped). */
function flatAttributes(attributes: Attributes | undefined): unknown[] {
  const flat: unknown[] = [];
  if (typeof attributes !== 'object' || attributes === null) return flat;
  for (const key of Object.keys(attributes)) {
    try {
      const value = attributes[key];
      if (isAttributeValue(value)) flat.push(key, value);
    } catch {
      /* the caller's object: its failure costs only that attribute */
    }
  }
  return flat;
}

/** A name as text; '' when it cannot be turned into one (its toString throws). */
function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '';
  }
}
