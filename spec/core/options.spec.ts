// The core entry's options: checked at createTracer(), each error naming the option at fault,
// unknown options refused, header values never repeated; and its import graph, which reaches
// neither the environment ladder, the EcoSystem middleware nor (in a browser bundle) any node: module.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, createTracer, type CoreTracerOptions } from '../../lib/core.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function errorOf(options: unknown): string {
  try {
    void createTracer(options as CoreTracerOptions).shutdown();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.name, 'ConfigError');
    return err.message;
  }
  return 'no error';
}

describe('core entry: options checked at creation', () => {
  const base = { serviceName: 'edge-fn' };
  const cases: [string, unknown, string][] = [
    ['not an object', 'edge-fn', 'options: "edge-fn" is not an object'],
    ['no serviceName', {}, 'option serviceName: nothing is not a non-empty string'],
    ['blank serviceName', { serviceName: '  ' }, 'option serviceName: "  " is not a non-empty string'],
    ['unknown option', { ...base, sampler: 0.5 }, 'unknown option "sampler"'],
    ['endpoint without scheme', { ...base, endpoint: 'collector:4318/v1/traces' },
      'option endpoint: is not an http:// or https:// URL'],
    ['endpoint not a URL', { ...base, endpoint: 'http://' },
      'option endpoint: is not a valid URL (e.g. http://collector:4318/v1/traces)'],
    ['endpoint with credentials', { ...base, endpoint: 'https://user:pw@collector/v1/traces' },
      'option endpoint: holds a user name or password: send credentials as a header instead'],
    ['endpoint not a string', { ...base, endpoint: 4318 }, 'option endpoint: 4318 is not a string'],
    ['headers not an object', { ...base, headers: 'a=b' }, 'option headers: "a=b" is not an object'],
    ['bad header name', { ...base, headers: { 'x key': 'v' } }, 'option headers: "x key" is not a valid header name'],
    ['client header', { ...base, headers: { Host: 'x' } },
      'option headers: "Host" is not a header that can be configured ' +
        '(the HTTP client sets Host, Content-Length, Transfer-Encoding and Connection)'],
    ['header value with CR LF', { ...base, headers: { authorization: 'Bearer s3cret\r\nX-Evil: 1' } },
      'option headers: the value of header authorization is not visible ASCII (letters, digits, punctuation, spaces)'],
    ['header value not ASCII', { ...base, headers: { authorization: 'Bearer s3cret\u010d\u010a' } },
      'option headers: the value of header authorization is not visible ASCII (letters, digits, punctuation, spaces)'],
    ['compression', { ...base, compression: 'brotli' }, 'option compression: "brotli" is not "gzip" or "none"'],
    ['maxQueueSize', { ...base, maxQueueSize: 0 }, 'option maxQueueSize: 0 is not a whole number from 1 to 10000000'],
    ['maxExportBatchSize', { ...base, maxExportBatchSize: 1.5 },
      'option maxExportBatchSize: 1.5 is not a whole number from 1 to 10000000'],
    ['timeoutMillis', { ...base, timeoutMillis: 0 }, 'option timeoutMillis: 0 is not a number from 1 to 2147483647'],
    ['scheduledDelayMillis', { ...base, scheduledDelayMillis: '5' },
      'option scheduledDelayMillis: "5" is not a number from 0 to 2147483647'],
    ['shutdownTimeoutMillis', { ...base, shutdownTimeoutMillis: -1 },
      'option shutdownTimeoutMillis: -1 is not a number from 0 to 2147483647'],
    ['attributeValueLengthLimit', { ...base, attributeValueLengthLimit: NaN },
      'option attributeValueLengthLimit: NaN is not a whole number from 0 up'],
    ['retry key', { ...base, retry: { attempts: 3 } }, 'unknown option retry.attempts'],
    ['retry value', { ...base, retry: { maxAttempts: 0 } },
      'option retry.maxAttempts: 0 is not a whole number from 1 to 100'],
    ['resource attribute', { ...base, resourceAttributes: { region: { name: 'eu' } } },
      'option resourceAttributes["region"]: an object is not a string, number, boolean or array of them'],
    ['exporter', { ...base, exporter: {} }, 'option exporter: an object is not an object with export()'],
    ['clock', { ...base, clock: 5 }, 'option clock: 5 is not a function'],
    ['idGenerator', { ...base, idGenerator: { spanId: 'x' } },
      'option idGenerator: an object is not { traceId?(), spanId?() }'],
    ['logger', { ...base, logger: {} }, 'option logger: an object is not a function or { warn() }'],
  ];
  for (const [what, options, message] of cases) {
    it(what, () => assert.equal(errorOf(options), message));
  }

  it('never repeats a header value in an error', () => {
    const message = errorOf({ ...base, headers: { authorization: 'Bearer s3cret-token\n' } });
    assert.ok(!message.includes('s3cret'), message);
  });

  it('accepts every option, header names kept in lower case', async () => {
    const tracer = createTracer({
      serviceName: ' edge-fn ', endpoint: 'https://collector:4318/v1/traces', headers: { Authorization: 'Bearer x' },
      resourceAttributes: { 'deployment.environment': 'test', shard: 3, zones: ['a', 'b'] }, timeoutMillis: 5000,
      compression: 'gzip', maxQueueSize: 100, maxExportBatchSize: 500, scheduledDelayMillis: 0,
      shutdownTimeoutMillis: 100, attributeValueLengthLimit: 64, retry: { maxAttempts: 2, initialBackoffMillis: 5 },
      clock: () => 1n, idGenerator: { spanId: () => '0000000000000001' }, logger: { warn: () => undefined },
    });
    assert.equal(tracer.config.serviceName, 'edge-fn');
    assert.deepEqual(tracer.config.headers, { authorization: 'Bearer x' });
    assert.equal(tracer.config.maxExportBatchSize, 100, 'at most maxQueueSize, as the OTel SDKs do');
    assert.deepEqual(tracer.config.retry, {
      maxAttempts: 2, initialBackoffMillis: 5, maxBackoffMillis: 10_000, maxRetryAfterMillis: 30_000,
      maxBatchMillis: 120_000,
    });
    await tracer.shutdown();
  });
});

/**
 * The lib/ modules (paths under lib/, no extension) reached from `entry` by static and dynamic
 * relative imports, each resolved through `swap` (package.json "browser", as bundlers apply it).
 * Type-only imports and re-exports are left out: they are erased from the JavaScript.
 */
function reached(entry: string, swap: Record<string, string>): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (name: string): void => {
    name = swap[name] ?? name;
    if (seen.has(name)) return;
    const src = readFileSync(join(ROOT, 'lib', `${name}.ts`), 'utf8');
    seen.set(name, src);
    const imports = /^(?:import|export)(?! type )[^;]*? from '(\.\.?\/[\w/.-]+)\.js'/gm;
    const dynamicImports = /import\('(\.\.?\/[\w/.-]+)\.js'\)/g;
    for (const m of [...src.matchAll(imports), ...src.matchAll(dynamicImports)]) {
      visit(posix.join(posix.dirname(name), m[1]!));
    }
  };
  visit(entry);
  return seen;
}

describe('core entry: import graph', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { browser: Record<string, string> };
  const moduleOf = (file: string): string => file.replace(/^\.\/dist\/(.*)\.js$/, '$1');
  const browser = Object.fromEntries(Object.entries(pkg.browser).map(([from, to]) => [moduleOf(from), moduleOf(to)]));

  it('a browser bundle of lib/core.ts reaches no node: module', () => {
    const graph = reached('core', browser);
    assert.ok(graph.has('platform/web/transport'), [...graph.keys()].join());
    for (const [name, src] of graph) assert.doesNotMatch(src, /from 'node:|import\('node:/, `${name} imports node:`);
  });

  it('reaches no environment ladder, EcoSystem middleware, handler span API or CLI', () => {
    const sources = reached('core', {});
    const graph = [...sources.keys()];
    const excluded = /^(config|ecosystem|api|cli|testing)\/|^trace\/tracer$/;
    assert.deepEqual(graph.filter((name) => excluded.test(name)), []);
    // Unbundled, the Node platform module is reached only as the HTTP exporter's default, which
    // the core replaces with the fetch transport: its net/tls/zlib transport and node:fs recorder
    // are imported lazily and never loaded. (Once http-exporter.ts takes its platform as a
    // required option, this list becomes empty.)
    const importers = graph.filter((name) => sources.get(name)!.includes(`'../platform/node/index.js'`));
    assert.deepEqual(importers, ['export/http-exporter']);
  });
});
