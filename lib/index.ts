// The package's main entry: the host contract, the tracer, and the pieces needed to test or
// extend it. Node-only parts (net/tls transport, node:fs recorder) load lazily; the CLI and
// receiver are not imported from here.
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
} from './contract.js';
export { OtlpTracingMiddleware } from './middleware.js';
export { OtlpBufferedTracingMiddleware } from './buffered-middleware.js';
export { initiateOtlpTracing, type InitiateOptions, type OtlpTracing } from './setup.js';
export { ConfigError, type OtlpTracingOptions, type SetupOptions } from './config.js';
export { InMemoryExporter, type SpanExporter, type ExportBatch, type ExportResult, type RetryPolicy } from './exporter.js';
export type { ExportStats } from './batcher.js';
export { Span, SpanKind, StatusCode, type AttributeValue } from './span.js';
export type { IdGenerator } from './ids.js';
export type { ClockFn } from './clock.js';
export type { Logger } from './log.js';
export { VERSION } from './version.js';
