// initiateOtlpTracing: the one call. Resolves configuration (a bad value throws here, before
// the app serves), builds both middlewares and registers them with the managers.
import { MiddlewareManager, BufferedMiddlewareManager } from './contract.js';
import type { SetupOptions } from '../config/config.js';
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
  const given = options ?? {};
  const isObject = typeof given === 'object' && !Array.isArray(given);
  // (anything but an object goes on as it is, for the configuration's own error message)
  const fields: InitiateOptions = isObject ? given : {};
  const { middlewareManager, bufferedMiddlewareManager, ...tracingOptions } = fields;
  // A bad value throws here, before anything is registered.
  const tracer = new OtlpTracingMiddleware(isObject ? tracingOptions : given);
  const buffered = new OtlpBufferedTracingMiddleware(tracer);
  (middlewareManager ?? MiddlewareManager.instance()).add(tracer);
  (bufferedMiddlewareManager ?? BufferedMiddlewareManager.instance()).add(buffered);
  return { tracer, buffered, shutdown: () => tracer.shutdown() };
}
