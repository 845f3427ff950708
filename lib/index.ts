// The package's main entry: the host contract, the tracer, and the pieces needed to test or
// extend it. Node-only parts (net/tls transport, node:fs recorder) load lazily; the CLI and
// receiver are not imported from here, nor is the span API for handler code ("./handler").
export {
  MiddlewareBase,
  BufferedMiddlewareBase,
  MiddlewareManager,
  BufferedMiddlewareManager,
  type SpanKey,
  type RequestDTO,
  type Metadata,
  type BeforeRoutingArgs,
  type AfterRoutingArgs,
  type RoutingFailedArgs,
} from './ecosystem/contract.js';
export { OtlpTracingMiddleware } from './ecosystem/middleware.js';
export { OtlpBufferedTracingMiddleware } from './ecosystem/buffered-middleware.js';
export { initiateOtlpTracing, type InitiateOptions, type OtlpTracing } from './ecosystem/setup.js';
export { ConfigError, type OtlpTracingOptions, type SetupOptions } from './config/config.js';
export {
  InMemoryExporter,
  type SpanExporter,
  type ExportBatch,
  type ExportResult,
  type RetryPolicy,
} from './export/exporter.js';
export type { ExportStats } from './export/batcher.js';
export { SpanKind, StatusCode, type AttributeValue, type ReadableSpan } from './trace/span.js';
export type { IdGenerator } from './trace/ids.js';
export type { ClockFn } from './trace/clock.js';
export type { Logger } from './util/diagnostics.js';
export { VERSION } from './util/version.js';
