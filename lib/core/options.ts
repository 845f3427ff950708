// The core entry's options: given in code only (no ECOENV_EXTRA_* ladder, no OTEL_* variables),
// checked once, at createTracer(), so a bad value is an error naming the option and nothing on
// the span path validates configuration. The header rules are lib/config/config.ts's; they are
// restated here because importing that module would bring the whole environment ladder along.
import type { AttributeValue } from '../trace/span.js';
import type { ClockFn } from '../trace/clock.js';
import type { IdGenerator } from '../trace/ids.js';
import type { Logger } from '../util/diagnostics.js';
import type { SpanExporter } from '../export/exporter.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../export/retry.js';
import { describeValue } from '../util/text.js';

export interface CoreTracerOptions {
  /** Required: service.name of every span. */
  serviceName: string;
  /** OTLP/HTTP traces URL. Default http://localhost:4318/v1/traces. */
  endpoint?: string;
  /** Extra request headers (e.g. authorization); their values never appear in any output. */
  headers?: Record<string, string>;
  /** More resource attributes (service.name and telemetry.sdk.* are set by the tracer). */
  resourceAttributes?: Record<string, AttributeValue>;
  /** Per-attempt request timeout. Default 10 000. */
  timeoutMillis?: number;
  /** Default 'none'. */
  compression?: 'gzip' | 'none';
  /** Spans waiting for export at most; more are dropped and counted. Default 2048. */
  maxQueueSize?: number;
  /** Spans per request at most. Default 512. */
  maxExportBatchSize?: number;
  /** A partial batch is sent after this long. Default 1000. */
  scheduledDelayMillis?: number;
  /** shutdown() resolves within this. Default 5000. */
  shutdownTimeoutMillis?: number;
  /** Longest string value kept, in UTF-16 code units; longer ones are cut. Default 8192. */
  attributeValueLengthLimit?: number;
  retry?: Partial<RetryPolicy>;
  /** Replaces the HTTP exporter (e.g. an in-memory one in tests). */
  exporter?: SpanExporter;
  /** Epoch nanoseconds; inject for deterministic output. */
  clock?: ClockFn;
  idGenerator?: IdGenerator;
  /** Where diagnostics go. Default console.warn. */
  logger?: Logger;
}

export interface CoreConfig {
  serviceName: string;
  endpoint: string;
  headers: Record<string, string>;
  resourceAttributes: Record<string, AttributeValue>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  shutdownTimeoutMillis: number;
  attributeValueLengthLimit: number;
  retry: RetryPolicy;
  exporter: SpanExporter | undefined;
  clock: ClockFn | undefined;
  idGenerator: IdGenerator | undefined;
  logger: Logger | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** "option <name>: <value> is not <what>", the main entry's shape of a start-up error. */
function fail(name: string, value: unknown, what: string): never {
  throw new ConfigError(`option ${name}: ${describeValue(value)} is not ${what}`);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const MAX_MILLIS = 2_147_483_647; // setTimeout's limit

function numberIn(name: string, value: unknown, min: number, max: number, whole: boolean): number {
  const ok = typeof value === 'number' && value >= min && value <= max && (!whole || Number.isInteger(value));
  if (ok) return value;
  const upTo = max < Infinity ? ` to ${max}` : ' up';
  return fail(name, value, `${whole ? 'a whole number' : 'a number'} from ${min}${upTo}`);
}

/** An http(s) URL without credentials; messages never repeat it (it may hold secrets in its query). */
function endpointUrl(value: unknown): string {
  if (typeof value !== 'string') return fail('endpoint', value, 'a string');
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError('option endpoint: is not a valid URL (e.g. http://collector:4318/v1/traces)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('option endpoint: is not an http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new ConfigError('option endpoint: holds a user name or password: send credentials as a header instead');
  }
  return url.href;
}

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: anything else could become CR LF on the wire (see lib/config/config.ts). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Headers the HTTP client writes itself. */
const CLIENT_HEADERS = ['host', 'content-length', 'transfer-encoding', 'connection'];

function headerMap(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) return fail('headers', value, 'an object');
  const out: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) fail('headers', name, 'a valid header name');
    if (CLIENT_HEADERS.includes(name.toLowerCase())) {
      const setByClient = 'Host, Content-Length, Transfer-Encoding and Connection';
      fail('headers', name, `a header that can be configured (the HTTP client sets ${setByClient})`);
    }
    // The value is a secret: say what is wrong without repeating it.
    if (typeof headerValue !== 'string' || !HEADER_VALUE.test(headerValue)) {
      const what = 'visible ASCII (letters, digits, punctuation, spaces)';
      throw new ConfigError(`option headers: the value of header ${name} is not ${what}`);
    }
    out[name.toLowerCase()] = headerValue;
  }
  return out;
}

const isScalar = (value: unknown): boolean =>
  typeof value === 'string' || typeof value === 'boolean' || Number.isFinite(value);

function attributeMap(value: unknown): Record<string, AttributeValue> {
  if (!isPlainObject(value)) return fail('resourceAttributes', value, 'an object');
  for (const [name, attribute] of Object.entries(value)) {
    if (!(isScalar(attribute) || (Array.isArray(attribute) && attribute.every(isScalar)))) {
      fail(`resourceAttributes[${JSON.stringify(name)}]`, attribute, 'a string, number, boolean or array of them');
    }
  }
  return { ...(value as Record<string, AttributeValue>) };
}

function retryPolicy(value: unknown): RetryPolicy {
  if (!isPlainObject(value)) return fail('retry', value, 'an object');
  const out: RetryPolicy = { ...DEFAULT_RETRY };
  for (const [name, setting] of Object.entries(value)) {
    if (!(name in out)) throw new ConfigError(`unknown option retry.${name}`);
    if (setting === undefined) continue;
    const isAttempts = name === 'maxAttempts';
    out[name as keyof RetryPolicy] = numberIn(`retry.${name}`, setting, isAttempts ? 1 : 0,
      isAttempts ? 100 : MAX_MILLIS, isAttempts);
  }
  return out;
}

/** Checks every option; throws ConfigError naming the one at fault (unknown options included). */
export function resolveCoreOptions(options: CoreTracerOptions): CoreConfig {
  if (!isPlainObject(options)) throw new ConfigError(`options: ${describeValue(options)} is not an object`);
  const given = options as Record<string, unknown>;
  const millis = (name: string, fallback: number, min = 0): number =>
    given[name] === undefined ? fallback : numberIn(name, given[name], min, MAX_MILLIS, false);
  const count = (name: string, fallback: number): number =>
    given[name] === undefined ? fallback : numberIn(name, given[name], 1, 10_000_000, true);
  const isFunction = (name: string): boolean => given[name] === undefined || typeof given[name] === 'function';

  const serviceName = given.serviceName;
  if (typeof serviceName !== 'string' || !serviceName.trim()) fail('serviceName', serviceName, 'a non-empty string');
  const compression = given.compression ?? 'none';
  if (compression !== 'gzip' && compression !== 'none') fail('compression', compression, '"gzip" or "none"');
  const exporter = given.exporter as SpanExporter | undefined;
  if (exporter !== undefined && typeof exporter?.export !== 'function') {
    fail('exporter', exporter, 'an object with export()');
  }
  if (!isFunction('clock')) fail('clock', given.clock, 'a function');
  const ids = given.idGenerator as IdGenerator | undefined;
  const isIdFunction = (f: unknown): boolean => f === undefined || typeof f === 'function';
  if (ids !== undefined && !(isPlainObject(ids) && isIdFunction(ids.traceId) && isIdFunction(ids.spanId))) {
    fail('idGenerator', ids, '{ traceId?(), spanId?() }');
  }
  const logger = given.logger as { warn?: unknown } | undefined;
  if (logger !== undefined && typeof logger !== 'function' && typeof logger?.warn !== 'function') {
    fail('logger', logger, 'a function or { warn() }');
  }
  const maxQueueSize = count('maxQueueSize', 2048);
  const config: CoreConfig = {
    serviceName: serviceName.trim(),
    endpoint: given.endpoint === undefined ? 'http://localhost:4318/v1/traces' : endpointUrl(given.endpoint),
    headers: given.headers === undefined ? {} : headerMap(given.headers),
    resourceAttributes: given.resourceAttributes === undefined ? {} : attributeMap(given.resourceAttributes),
    timeoutMillis: millis('timeoutMillis', 10_000, 1),
    compression,
    maxQueueSize,
    // as the OTel SDKs do
    maxExportBatchSize: Math.min(count('maxExportBatchSize', 512), maxQueueSize),
    scheduledDelayMillis: millis('scheduledDelayMillis', 1000),
    shutdownTimeoutMillis: millis('shutdownTimeoutMillis', 5000),
    attributeValueLengthLimit: given.attributeValueLengthLimit === undefined
      ? 8192
      : numberIn('attributeValueLengthLimit', given.attributeValueLengthLimit, 0, Infinity, true),
    retry: given.retry === undefined ? { ...DEFAULT_RETRY } : retryPolicy(given.retry),
    exporter,
    clock: given.clock as ClockFn | undefined,
    idGenerator: ids,
    logger: logger as Logger | undefined,
  };
  for (const name of Object.keys(given)) {
    if (!(name in config)) throw new ConfigError(`unknown option ${JSON.stringify(name)}`);
  }
  return config;
}
