// The core entry (ekosis-otlp-traces/core), for runtimes that need only spans and their export:
// edge functions, workers, browsers, scripts. The span model, the OTLP/JSON encoder, the batch
// processor and the fetch transport; no EcoSystem middleware, no environment variables, no
// node: module. Same payload bytes and the same queue, retry and shutdown bounds as the main entry.
export {
  createTracer,
  type CoreTracer,
  type CoreSpan,
  type StartSpanOptions,
  type Attributes,
  type SpanKindValue,
  type StatusCodeValue,
} from './core/tracer.js';
export { ConfigError, type CoreTracerOptions } from './core/options.js';
export { SpanKind, StatusCode, type AttributeValue, type ReadableSpan } from './trace/span.js';
export { InMemoryExporter, type SpanExporter, type ExportBatch, type ExportResult } from './export/exporter.js';
export type { RetryPolicy } from './export/retry.js';
export type { ExportStats } from './export/batcher.js';
export type { IdGenerator } from './trace/ids.js';
export type { ClockFn } from './trace/clock.js';
export type { Logger } from './util/diagnostics.js';
export { VERSION } from './util/version.js';
