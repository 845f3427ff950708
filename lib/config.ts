// Configuration: options, then EcoSystem's ECOENV_EXTRA_* ladder, then OTEL_* variables, then
// defaults. Everything is checked here, once, so a bad value is a start-up error naming its
// source; the request path never validates configuration.
import type { AttributeValue } from './span.js';
import type { SpanExporter, RetryPolicy } from './exporter.js';
import { DEFAULT_RETRY } from './exporter.js';
import type { ClockFn } from './clock.js';
import type { IdGenerator } from './ids.js';
import type { Logger } from './log.js';

export interface OtlpTracingOptions {
  /** OTLP/HTTP traces URL, e.g. http://localhost:4318/v1/traces. */
  endpoint?: string;
  serviceName?: string;
  /** Extra request headers (e.g. Authorization); their values never appear in any output. */
  headers?: Record<string, string>;
  /** Per-attempt request timeout. Default 10 000. */
  timeoutMillis?: number;
  compression?: 'gzip' | 'none';
  /** Spans waiting for export at most; more are dropped and counted. Default 2048. */
  maxQueueSize?: number;
  /** Spans per request at most. Default 512. */
  maxExportBatchSize?: number;
  /** A partial batch is sent after this long. Default 1000. */
  scheduledDelayMillis?: number;
  /** A span whose end hook never comes is ended as ERROR after this long. Default 60 000. */
  spanTimeoutMillis?: number;
  /** Open spans kept at most (per kind of hook); the oldest is ended as ERROR past it. Default 10 000. */
  maxOpenSpans?: number;
  resourceAttributes?: Record<string, AttributeValue>;
  /** Sampling ratio 0..1, decided from the trace id alone. Default 1. */
  sampler?: number;
  /** Append every payload, byte for byte as sent, to this file (one JSON line each). */
  recordPayloadsTo?: string;
  /** Replace the HTTP exporter (e.g. an InMemoryExporter). */
  exporter?: SpanExporter;
  /** Epoch nanoseconds; inject for deterministic output. */
  clock?: ClockFn;
  idGenerator?: IdGenerator;
  logger?: Logger;
  /** shutdown() resolves within this. Default 5000. */
  shutdownTimeoutMillis?: number;
  /** Longest string attribute value; longer ones are cut. Default: no limit. */
  attributeValueLengthLimit?: number;
  /** Retry policy of the HTTP exporter. */
  retry?: Partial<RetryPolicy>;
  /** false turns every hook into a pass-through (like OTEL_SDK_DISABLED=true). */
  enabled?: boolean;
}

export interface SetupOptions extends OtlpTracingOptions {
  appName?: string;
  instance?: string;
}

export interface ResolvedConfig {
  endpoint: string;
  serviceName: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  spanTimeoutMillis: number;
  maxOpenSpans: number;
  resourceAttributes: Record<string, AttributeValue>;
  sampler: number;
  recordPayloadsTo: string | undefined;
  exporter: SpanExporter | undefined;
  clock: ClockFn | undefined;
  idGenerator: IdGenerator | undefined;
  logger: Logger | undefined;
  shutdownTimeoutMillis: number;
  attributeValueLengthLimit: number;
  retry: RetryPolicy;
  enabled: boolean;
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** process.env where it exists (Node, Bun, Deno with --allow-env), else nothing. */
export function processEnv(): Env {
  try {
    return (globalThis as { process?: { env?: Env } }).process?.env ?? {};
  } catch {
    return {};
  }
}

function processArgv(): string[] {
  return (globalThis as { process?: { argv?: string[] } }).process?.argv ?? [];
}

/** EcoSystem's application name: the script's file name without extension, in snake_case. */
export function deriveAppName(argv = processArgv()): string | undefined {
  const script = argv[1];
  if (!script) return undefined;
  const base = script.split(/[\\/]/).pop()!.replace(/\.[^.]*$/, '');
  const snake = base
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase()
    .replace(/^_+|_+$/g, '');
  return snake || undefined;
}

/** EcoSystem's instance id: the -i / --instance argument. */
export function deriveInstance(argv = processArgv()): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-i' || a === '--instance') return argv[i + 1];
    if (a.startsWith('--instance=')) return a.slice(11);
    if (a.startsWith('-i') && a.length > 2 && !a.startsWith('--')) return a.slice(2);
  }
  return undefined;
}

interface Source {
  value: string;
  name: string;
}

/** The first set variable of the ECOENV ladder for KEY, instance > app > machine. */
function ecoenv(env: Env, key: string, app: string, instance: string): Source | undefined {
  const A = app.toUpperCase();
  const I = instance.toUpperCase();
  for (const name of [`ECOENV_EXTRA_${A}_${I}_${key}`, `ECOENV_EXTRA_${A}_${key}`, `ECOENV_EXTRA_${key}`]) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, name };
  }
  return undefined;
}

function first(env: Env, ...names: string[]): Source | undefined {
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, name };
  }
  return undefined;
}

function num(src: Source, opts: { min: number; max?: number; integer?: boolean; what: string }): number {
  const n = Number(src.value.trim());
  if (src.value.trim() === '' || !Number.isFinite(n) || n < opts.min || (opts.max !== undefined && n > opts.max) || (opts.integer && !Number.isInteger(n))) {
    throw new ConfigError(`${src.name}: ${JSON.stringify(src.value)} is not ${opts.what}`);
  }
  return n;
}

function optNum(o: Record<string, unknown>, key: string, d: { min: number; max?: number; integer?: boolean; what: string }, prefix = ''): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < d.min || (d.max !== undefined && v > d.max) || (d.integer && !Number.isInteger(v))) {
    throw new ConfigError(`option ${prefix}${key}: ${describeValue(v)} is not ${d.what}`);
  }
  return v;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

/** Validates an endpoint URL; the message never repeats credentials. */
export function checkEndpoint(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError(`${source}: not a valid URL (expected e.g. http://localhost:4318/v1/traces)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${source}: scheme ${JSON.stringify(url.protocol)} is not supported; use http: or https:`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${source}: credentials in the URL are not accepted (they would end up in logs); send them as a header, e.g. Authorization`);
  }
  return url.href;
}

/** "k1=v1,k2=v2" with percent-encoded values (the OTEL_*_HEADERS / RESOURCE_ATTRIBUTES format). */
function keyValues(src: Source): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = src.value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!.trim();
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!key) throw new ConfigError(`${src.name}: entry ${i + 1} is not key=value`);
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(`${src.name}: the value of ${JSON.stringify(key)} is not valid percent-encoding`);
    }
    out[key] = value;
  }
  return out;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkHeaders(h: Record<string, string>, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (!HEADER_NAME.test(k)) throw new ConfigError(`${source}: ${JSON.stringify(k)} is not a valid header name`);
    // The value itself is a secret: say what is wrong without repeating it.
    if (typeof v !== 'string') throw new ConfigError(`${source}: the value of header ${k} must be a string`);
    if (/[\r\n\0]/.test(v)) throw new ConfigError(`${source}: the value of header ${k} contains a line break or NUL`);
    out[k.toLowerCase()] = v;
  }
  return out;
}

function checkAttributes(a: Record<string, unknown>, source: string): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(a)) {
    const ok =
      typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ||
      (Array.isArray(v) && v.every((e) => typeof e === 'string' || typeof e === 'boolean' || (typeof e === 'number' && Number.isFinite(e))));
    if (!ok) throw new ConfigError(`${source}: attribute ${JSON.stringify(k)} must be a string, boolean, finite number or an array of those`);
    out[k] = v as AttributeValue;
  }
  return out;
}

const KNOWN = new Set([
  'endpoint', 'serviceName', 'headers', 'timeoutMillis', 'compression', 'maxQueueSize', 'maxExportBatchSize',
  'scheduledDelayMillis', 'spanTimeoutMillis', 'maxOpenSpans', 'resourceAttributes', 'sampler', 'recordPayloadsTo',
  'exporter', 'clock', 'idGenerator', 'logger', 'shutdownTimeoutMillis', 'attributeValueLengthLimit', 'retry', 'enabled',
  'appName', 'instance', 'middlewareManager', 'bufferedMiddlewareManager',
]);

const MS = { min: 0, max: 2_147_483_647, what: 'a number of milliseconds (0 to 2147483647)' };
const POS_INT = { min: 1, max: 10_000_000, integer: true, what: 'a whole number from 1 to 10000000' };

/** Resolves every setting; throws ConfigError naming the option or variable at fault. */
export function resolveConfig(options: SetupOptions = {}, env: Env = processEnv(), argv?: string[]): ResolvedConfig {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`options must be an object, got ${describeValue(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw new ConfigError(`unknown option ${JSON.stringify(k)}`);
  }
  for (const k of ['endpoint', 'serviceName', 'recordPayloadsTo', 'appName', 'instance']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new ConfigError(`option ${k}: expected a string, got ${describeValue(o[k])}`);
  }
  const app = (options.appName ?? deriveAppName(argv) ?? 'app').trim() || 'app';
  const instance = (options.instance ?? deriveInstance(argv) ?? '0').trim() || '0';
  const extra = (key: string): Source | undefined => ecoenv(env, key, app, instance);

  // Endpoint
  let endpoint: string;
  if (options.endpoint !== undefined) endpoint = checkEndpoint(options.endpoint, 'option endpoint');
  else {
    const src = extra('OTLP_TRACES_ENDPOINT') ?? first(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    if (src) endpoint = checkEndpoint(src.value, src.name);
    else {
      const base = first(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
      endpoint = base ? checkEndpoint(base.value.replace(/\/+$/, '') + '/v1/traces', base.name) : 'http://localhost:4318/v1/traces';
    }
  }

  // Headers: option, or the first variable that is set (they are not merged: one source wins).
  let headers: Record<string, string>;
  if (options.headers !== undefined) {
    if (options.headers === null || typeof options.headers !== 'object' || Array.isArray(options.headers)) {
      throw new ConfigError(`option headers: expected an object of header name → value`);
    }
    headers = checkHeaders(options.headers, 'option headers');
  } else {
    const src = extra('OTLP_TRACES_HEADERS') ?? first(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS');
    headers = src ? checkHeaders(keyValues(src), src.name) : {};
  }

  const envMs = (key: string, ...otel: string[]): number | undefined => {
    const src = (key ? extra(key) : undefined) ?? first(env, ...otel);
    return src ? num(src, MS) : undefined;
  };
  const envInt = (...names: string[]): number | undefined => {
    const src = first(env, ...names);
    return src ? num(src, POS_INT) : undefined;
  };

  const timeoutMillis =
    optNum(o, 'timeoutMillis', { ...MS, min: 1 }) ??
    envMs('OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT') ??
    10_000;

  let compression: 'gzip' | 'none';
  if (options.compression !== undefined) {
    if (options.compression !== 'gzip' && options.compression !== 'none') {
      throw new ConfigError(`option compression: ${describeValue(options.compression)} is not "gzip" or "none"`);
    }
    compression = options.compression;
  } else {
    const src = extra('OTLP_TRACES_COMPRESSION') ?? first(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION');
    const v = src?.value.trim().toLowerCase();
    if (src && v !== 'gzip' && v !== 'none') throw new ConfigError(`${src.name}: ${JSON.stringify(src.value)} is not "gzip" or "none"`);
    compression = (v as 'gzip' | 'none' | undefined) ?? 'none';
  }

  const maxQueueSize = optNum(o, 'maxQueueSize', POS_INT) ?? envInt('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  let maxExportBatchSize = optNum(o, 'maxExportBatchSize', POS_INT) ?? envInt('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512;
  if (maxExportBatchSize > maxQueueSize) maxExportBatchSize = maxQueueSize; // as the OTel SDKs do
  const scheduledDelayMillis = optNum(o, 'scheduledDelayMillis', MS) ?? envMs('', 'OTEL_BSP_SCHEDULE_DELAY') ?? 1000;
  const spanTimeoutMillis = optNum(o, 'spanTimeoutMillis', { ...MS, min: 1 }) ?? 60_000;
  const maxOpenSpans = optNum(o, 'maxOpenSpans', POS_INT) ?? 10_000;
  const shutdownTimeoutMillis = optNum(o, 'shutdownTimeoutMillis', MS) ?? 5000;

  let attributeValueLengthLimit = optNum(o, 'attributeValueLengthLimit', { min: 0, integer: true, what: 'a whole number >= 0' });
  if (attributeValueLengthLimit === undefined) {
    const src = first(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT');
    attributeValueLengthLimit = src ? num(src, { min: 0, integer: true, what: 'a whole number >= 0' }) : Infinity;
  }

  // Sampling and switches
  let enabled = options.enabled ?? true;
  if (typeof enabled !== 'boolean') throw new ConfigError(`option enabled: expected true or false`);
  const disabled = first(env, 'OTEL_SDK_DISABLED');
  if (disabled && disabled.value.trim().toLowerCase() === 'true') enabled = false;
  let sampler = optNum(o, 'sampler', { min: 0, max: 1, what: 'a ratio from 0 to 1' });
  if (sampler === undefined) {
    const s = first(env, 'OTEL_TRACES_SAMPLER');
    const name = s?.value.trim().toLowerCase();
    if (!s || name === 'always_on' || name === 'parentbased_always_on') sampler = 1;
    else if (name === 'always_off' || name === 'parentbased_always_off') sampler = 0;
    else if (name === 'traceidratio' || name === 'parentbased_traceidratio') {
      const arg = first(env, 'OTEL_TRACES_SAMPLER_ARG');
      sampler = arg ? num(arg, { min: 0, max: 1, what: 'a ratio from 0 to 1' }) : 1;
    } else throw new ConfigError(`${s.name}: ${JSON.stringify(s.value)} is not one of always_on, always_off, traceidratio (or their parentbased_ forms)`);
  }
  if (sampler === 0) enabled = false; // always_off: every hook a cheap pass-through

  // Service and resource
  const serviceName = (options.serviceName ?? first(env, 'OTEL_SERVICE_NAME')?.value ?? `${app}-${instance}`).trim() || `${app}-${instance}`;
  let resourceAttributes: Record<string, AttributeValue> = {};
  const ra = first(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (ra) resourceAttributes = keyValues(ra);
  if (options.resourceAttributes !== undefined) {
    if (options.resourceAttributes === null || typeof options.resourceAttributes !== 'object' || Array.isArray(options.resourceAttributes)) {
      throw new ConfigError('option resourceAttributes: expected a plain object of attribute name → value');
    }
    resourceAttributes = { ...resourceAttributes, ...checkAttributes(options.resourceAttributes, 'option resourceAttributes') };
  }

  let recordPayloadsTo = options.recordPayloadsTo;
  if (recordPayloadsTo === undefined) recordPayloadsTo = extra('OTLP_TRACES_RECORD')?.value;

  if (options.exporter !== undefined && (options.exporter === null || typeof (options.exporter as SpanExporter).export !== 'function')) {
    throw new ConfigError('option exporter: expected an object with an export(batch) method');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new ConfigError('option clock: expected a function returning epoch nanoseconds');
  if (options.idGenerator !== undefined) {
    const g = options.idGenerator as Record<string, unknown> | null;
    if (g === null || typeof g !== 'object' || (g.traceId !== undefined && typeof g.traceId !== 'function') || (g.spanId !== undefined && typeof g.spanId !== 'function')) {
      throw new ConfigError('option idGenerator: expected { traceId?(): string; spanId?(): string }');
    }
  }
  if (options.logger !== undefined && typeof options.logger !== 'function' && typeof (options.logger as { warn?: unknown })?.warn !== 'function') {
    throw new ConfigError('option logger: expected a function or an object with a warn method');
  }

  let retry = DEFAULT_RETRY;
  if (options.retry !== undefined) {
    if (options.retry === null || typeof options.retry !== 'object') throw new ConfigError('option retry: expected an object');
    const r = options.retry as Record<string, unknown>;
    retry = {
      maxAttempts: optNum(r, 'maxAttempts', { min: 1, max: 100, integer: true, what: 'a whole number from 1 to 100' }, 'retry.') ?? DEFAULT_RETRY.maxAttempts,
      initialBackoffMillis: optNum(r, 'initialBackoffMillis', MS, 'retry.') ?? DEFAULT_RETRY.initialBackoffMillis,
      maxBackoffMillis: optNum(r, 'maxBackoffMillis', MS, 'retry.') ?? DEFAULT_RETRY.maxBackoffMillis,
      maxRetryAfterMillis: optNum(r, 'maxRetryAfterMillis', MS, 'retry.') ?? DEFAULT_RETRY.maxRetryAfterMillis,
    };
  }

  return {
    endpoint, serviceName, headers, timeoutMillis, compression, maxQueueSize, maxExportBatchSize, scheduledDelayMillis,
    spanTimeoutMillis, maxOpenSpans, resourceAttributes, sampler, recordPayloadsTo, exporter: options.exporter,
    clock: options.clock, idGenerator: options.idGenerator, logger: options.logger, shutdownTimeoutMillis,
    attributeValueLengthLimit, retry, enabled,
  };
}
