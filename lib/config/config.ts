// Configuration: options, then EcoSystem's ECOENV_EXTRA_* ladder, then OTEL_* variables, then
// defaults. Everything is checked here, once, so a bad value is a start-up error naming its
// source; the request path never validates configuration.
import type { AttributeValue } from '../trace/span.js';
import type { SpanExporter, RetryPolicy } from '../export/exporter.js';
import { DEFAULT_RETRY } from '../export/exporter.js';
import type { ClockFn } from '../trace/clock.js';
import type { IdGenerator } from '../trace/ids.js';
import type { Logger } from '../util/diagnostics.js';
import { describeValue } from '../util/text.js';

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
  /**
   * Longest string value (attribute and event values, exception messages and stack traces, names,
   * status messages), in UTF-16 code units; longer ones are cut. Default 8192.
   */
  attributeValueLengthLimit?: number;
  /** Retry policy of the HTTP exporter. */
  retry?: Partial<RetryPolicy>;
  /** false turns every hook into a pass-through (like OTEL_SDK_DISABLED=true). */
  enabled?: boolean;
  /**
   * Handler code reaches its span (currentSpan, withSpan, outgoingSpanKey()): true from the first
   * request, false never; default: from the first such call on (see lib/api/active-span.ts).
   */
  handlerSpans?: boolean;
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
  handlerSpans: boolean | undefined;
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
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
  return (
    argv[1]
      ?.replace(/^.*[\\/]|\.[^.]*$/g, '') // directory and extension
      // myServer -> my_Server, HTTPGateway -> HTTP_Gateway
      .replace(/([a-z0-9])(?=[A-Z])|([A-Z])(?=[A-Z][a-z])/g, '$1$2_')
      .replace(/[^A-Za-z0-9]+/g, '_')
      .toLowerCase()
      .replace(/^_+|_+$/g, '') || undefined
  );
}

/** EcoSystem's instance id: the first -i / --instance argument (-i 3, -i3, --instance 3, --instance=3). */
export function deriveInstance(argv = processArgv()): string | undefined {
  // The arguments joined by NUL, which no argument can contain.
  return /(?:^|\0)(?:-i\0?|--instance[\0=])([^\0]*)/.exec(argv.slice(2).join('\0'))?.[1];
}

const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The one shape of a start-up error: "<option or variable>: <value> is not <what was expected>". */
function fail(source: string, value: unknown, what: string): never {
  throw new ConfigError(`${source}: ${describeValue(value)} is not ${what}`);
}

/**
 * Turns a setting's value into its resolved form, or throws naming SOURCE ("option x" or a
 * variable's name). FROM_ENV: VALUE is a variable's text rather than an option's value.
 */
type Parse = (source: string, value: any, fromEnv?: boolean) => any;
/** Where a setting came from: the arguments of a Parse. */
type Found = [source: string, value: any, fromEnv?: boolean];

/** A value taken as it is if it passes IS_OK (a variable's text always is a string). */
const shaped =
  (what: string, isOk: (value: any) => boolean): Parse =>
  (source, value) =>
    isOk(value) ? value : fail(source, value, what);

const text = shaped('a string', (value) => typeof value === 'string');

/** A number option, or a variable's text read as one, from MIN to MAX (and WHOLE). */
const range =
  (min: number, max: number, whole?: boolean): Parse =>
  (source, value, fromEnv) => {
    const number = fromEnv ? Number(value.trim() || NaN) : value;
    const inRange = typeof number === 'number' && number >= min && number <= max;
    if (inRange && (!whole || Number.isInteger(number))) return number;
    const upTo = max < Infinity ? ' to ' + max : ' up';
    return fail(source, value, `${whole ? 'a whole number' : 'a number'} from ${min}${upTo}`);
  };
const MAX_MILLIS = 2_147_483_647; // setTimeout's limit
const MILLIS = range(0, MAX_MILLIS);
const MILLIS_1 = range(1, MAX_MILLIS);
const COUNT = range(1, 10_000_000, true);
const RATIO = range(0, 1);

const OTLP_ENDPOINT = 'OTEL_EXPORTER_OTLP_ENDPOINT';

/**
 * An http(s) endpoint URL. OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the traces path goes at
 * the end of its path, before any query. Messages never repeat the value (it may hold credentials).
 */
const url: Parse = (source, value) => {
  const href = text(source, value).trim();
  const isBase = source === OTLP_ENDPOINT;
  // Without "scheme://", URL reads "collector:4318" as scheme "collector:": say what is missing.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) {
    const example = isBase ? 'http://collector:4318' : 'http://collector:4318/v1/traces';
    throw new ConfigError(`${source}: has no http:// or https:// scheme (e.g. ${example})`);
  }
  let parsed: URL;
  try {
    parsed = new URL(href);
  } catch {
    throw new ConfigError(`${source}: is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${source}: is not an http:// or https:// URL`);
  }
  if (parsed.username || parsed.password) {
    throw new ConfigError(`${source}: holds a user name or password: send credentials as a header instead`);
  }
  if (isBase) parsed.pathname = parsed.pathname.replace(/\/+$/, '') + '/v1/traces';
  return parsed.href;
};

/**
 * Name/value pairs of an object option, or of a variable's "k1=v1,k2=v2" text with
 * percent-encoded values (the OTEL_*_HEADERS / RESOURCE_ATTRIBUTES format).
 */
function pairs(source: string, value: any, fromEnv?: boolean): [string, unknown][] {
  if (!fromEnv) return Object.entries(isObject(value) ? value : fail(source, value, 'an object'));
  return (value as string).split(',').flatMap((entry, index) => {
    if (!entry.trim()) return [];
    const eq = entry.indexOf('=');
    const key = entry.slice(0, eq).trim();
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      /* reported below */
    }
    // Says which entry, not what it holds: it may be a header's secret.
    if (eq < 0 || !key || decoded === undefined) {
      throw new ConfigError(`${source}: entry ${index + 1} is not key=value (percent-encoded)`);
    }
    return [[key, decoded]];
  });
}

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Visible ASCII, space and tab. Header values go on the wire as latin1, one byte per UTF-16
 * unit, so U+010D U+010A would become CR LF: anything else is refused, not just "\r\n".
 */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Framing and routing headers the HTTP client writes itself; configured, they would corrupt requests. */
const CLIENT_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

const headers: Parse = (source, value, fromEnv) => {
  const out: Record<string, string> = {};
  for (const [name, headerValue] of pairs(source, value, fromEnv)) {
    if (!HEADER_NAME.test(name)) fail(source, name, 'a valid header name');
    if (CLIENT_HEADERS.has(name.toLowerCase())) {
      const setByClient = 'Host, Content-Length, Transfer-Encoding and Connection';
      fail(source, name, `a header that can be configured (the HTTP client sets ${setByClient})`);
    }
    // The value itself is a secret: say what is wrong without repeating it.
    if (typeof headerValue !== 'string' || !HEADER_VALUE.test(headerValue)) {
      const what = 'visible ASCII (letters, digits, punctuation, spaces)';
      throw new ConfigError(`${source}: the value of header ${name} is not ${what}`);
    }
    out[name.toLowerCase()] = headerValue;
  }
  return out;
};

const compression: Parse = (source, value, fromEnv) => {
  const name = fromEnv ? value.trim().toLowerCase() : value;
  return name === 'gzip' || name === 'none' ? name : fail(source, value, '"gzip" or "none"');
};

const isAttributeValue = (value: unknown): boolean =>
  typeof value === 'string' || typeof value === 'boolean' || Number.isFinite(value);

const retry: Parse = (source, value) => {
  const out: Record<string, number> = { ...DEFAULT_RETRY };
  for (const [name, setting] of pairs(source, value)) {
    if (!(name in out) || setting === undefined) continue;
    const parse = name === 'maxAttempts' ? range(1, 100, true) : MILLIS;
    out[name] = parse(`${source}.${name}`, setting);
  }
  return out;
};

const isLogger = (value: any): boolean => typeof value === 'function' || typeof value?.warn === 'function';

const isIdGenerator = (value: any): boolean =>
  isObject(value) && [value.traceId, value.spanId].every((f) => f === undefined || typeof f === 'function');

/** Resolves every setting; throws ConfigError naming the option or variable at fault. */
export function resolveConfig(options: SetupOptions = {}, env: Env = processEnv(), argv?: string[]): ResolvedConfig {
  if (!isObject(options)) fail('options', options, 'an object');
  const given = options as Record<string, unknown>;
  // Every option is read through fromOption(); whatever was never read is unknown (checked last).
  const read = new Set(['middlewareManager', 'bufferedMiddlewareManager']);
  const fromOption = (name: string): Found | undefined => {
    read.add(name);
    return given[name] !== undefined ? [`option ${name}`, given[name]] : undefined;
  };
  /** The appName or instance option, else the value derived from argv; '' when neither is set. */
  const label = (name: string, derived: string | undefined): string => {
    const found = fromOption(name);
    return ((found ? text(...found) : derived) ?? '').trim();
  };
  const app = label('appName', deriveAppName(argv)) || 'app';
  const instance = label('instance', deriveInstance(argv)) || '0';
  // ECOENV_EXTRA_<APP>_<INSTANCE>_KEY, then ECOENV_EXTRA_<APP>_KEY, then ECOENV_EXTRA_KEY.
  const ladder = [`${app}_${instance}_`, `${app}_`, ''].map((level) => 'ECOENV_EXTRA_' + level.toUpperCase());

  /** The first variable set of NAMES, where an ECOENV key (OTLP_TRACES_*) stands for its ladder. */
  const fromEnv = (...names: string[]): Found | undefined => {
    const variables = names.flatMap((name) =>
      name.startsWith('OTEL_') ? name : ladder.map((prefix) => prefix + name),
    );
    for (const variable of variables) {
      if (env[variable]) return [variable, env[variable], true]; // an empty variable counts as unset
    }
    return undefined;
  };

  /** A ratio option, or an OTEL_TRACES_SAMPLER name (and its argument). */
  const sampler: Parse = (source, value, isVariable) => {
    if (!isVariable) return RATIO(source, value);
    const name = value.trim().toLowerCase().replace(/^parentbased_/, '');
    if (name === 'always_on') return 1;
    if (name === 'always_off') return 0;
    if (name !== 'traceidratio') return fail(source, value, 'always_on, always_off or traceidratio');
    const ratio = fromEnv('OTEL_TRACES_SAMPLER_ARG');
    return ratio ? RATIO(...ratio) : 1;
  };

  // Each setting: option, parse, default, then its variables: the ECOENV_EXTRA_* key (its
  // ladder) and the OTEL_* names; the first of option, variables that is set wins.
  const settings: [string, Parse, unknown?, ...string[]][] = [
    ['endpoint', url, 'http://localhost:4318/v1/traces',
      'OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', OTLP_ENDPOINT],
    ['serviceName', text, '', 'OTEL_SERVICE_NAME'],
    ['headers', headers, {}, 'OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS'],
    ['timeoutMillis', MILLIS_1, 10_000,
      'OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'],
    ['compression', compression, 'none',
      'OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION'],
    ['maxQueueSize', COUNT, 2048, 'OTEL_BSP_MAX_QUEUE_SIZE'],
    ['maxExportBatchSize', COUNT, 512, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'],
    ['scheduledDelayMillis', MILLIS, 1000, 'OTEL_BSP_SCHEDULE_DELAY'],
    ['spanTimeoutMillis', MILLIS_1, 60_000],
    ['maxOpenSpans', COUNT, 10_000],
    ['sampler', sampler, 1, 'OTEL_TRACES_SAMPLER'],
    ['recordPayloadsTo', text, undefined, 'OTLP_TRACES_RECORD'],
    ['exporter', shaped('an object with export()', (exporter) => typeof exporter?.export === 'function')],
    ['clock', shaped('a function', (clock) => typeof clock === 'function')],
    ['idGenerator', shaped('{ traceId?(), spanId?() }', isIdGenerator)],
    ['logger', shaped('a function or { warn() }', isLogger)],
    ['shutdownTimeoutMillis', MILLIS, 5000],
    // Cut, not unlimited as in OTel: one 10 MiB exception message must not make a 10 MiB span.
    ['attributeValueLengthLimit', range(0, Infinity, true), 8192,
      'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
    ['retry', retry, DEFAULT_RETRY],
    ['enabled', shaped('true or false', (enabled) => typeof enabled === 'boolean'), true],
    ['handlerSpans', shaped('true or false', (enabled) => typeof enabled === 'boolean')],
  ];
  const config: Record<string, any> = {};
  for (const [name, parse, fallback, ...names] of settings) {
    const found = fromOption(name) ?? fromEnv(...names);
    config[name] = found ? parse(...found) : fallback;
  }

  config.serviceName = config.serviceName.trim() || `${app}-${instance}`;
  config.maxExportBatchSize = Math.min(config.maxExportBatchSize, config.maxQueueSize); // as the OTel SDKs do
  const disabled = fromEnv('OTEL_SDK_DISABLED')?.[1].trim().toLowerCase() === 'true';
  // always_off (sampler 0) makes every hook a pass-through, as disabling does.
  config.enabled = config.enabled && !disabled && config.sampler !== 0;

  // Resource attributes: the variable's, then the option's on top, key by key.
  const attributes: Record<string, unknown> = {};
  for (const found of [fromEnv('OTEL_RESOURCE_ATTRIBUTES'), fromOption('resourceAttributes')]) {
    if (!found) continue;
    for (const [name, value] of pairs(...found)) {
      if (!(isAttributeValue(value) || (Array.isArray(value) && value.every(isAttributeValue)))) {
        fail(`${found[0]}[${JSON.stringify(name)}]`, value, 'a string, number, boolean or array of them');
      }
      attributes[name] = value;
    }
  }
  config.resourceAttributes = attributes;

  for (const name of Object.keys(given)) {
    if (!read.has(name)) throw new ConfigError(`unknown option ${JSON.stringify(name)}`);
  }
  return config as ResolvedConfig;
}
