// initiateOtlpTracing: the one call. Resolves configuration (a bad value throws here, before
// the app serves), builds both middlewares and registers them with the managers.
import { MiddlewareManager, BufferedMiddlewareManager } from './contract.js';
import { resolveConfig, type SetupOptions } from '../config/config.js';
import { OtlpTracingMiddleware } from './middleware.js';
import { OtlpBufferedTracingMiddleware } from './buffered-middleware.js';

export interface InitiateOptions extends SetupOptions {
  middlewareManager?: MiddlewareManager;
  bufferedMiddlewareManager?: BufferedMiddlewareManager;
}

export interface OtlpTracing {
  tracer: OtlpTracingMiddleware;
  buffered: OtlpBufferedTracingMiddleware;
  /** Flushes and stops tracing; idempotent. */
  shutdown(): Promise<void>;
}

export function initiateOtlpTracing(options: InitiateOptions = {}): OtlpTracing {
  // resolveConfig accepts (and ignores) the two manager options; a bad value throws before anything is registered.
  const tracer = new OtlpTracingMiddleware(undefined, resolveConfig(options ?? {}));
  const buffered = new OtlpBufferedTracingMiddleware(tracer);
  (options?.middlewareManager ?? MiddlewareManager.instance()).add(tracer);
  (options?.bufferedMiddlewareManager ?? BufferedMiddlewareManager.instance()).add(buffered);
  return { tracer, buffered, shutdown: () => tracer.shutdown() };
}
