// Configuration: the resolution ladder of behaviour section 6 and start-up errors that name
// their source (and never repeat a secret).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, deriveAppName, deriveInstance, ConfigError } from '../../lib/config/config.ts';
import {
  initiateOtlpTracing,
  OtlpTracingMiddleware,
  MiddlewareManager,
  BufferedMiddlewareManager,
  InMemoryExporter,
} from '../../lib/index.ts';

const argv = ['node', '/srv/apps/trackerServer.ts', '-i', '3'];

test('app name and instance are derived like EcoSystem', () => {
  assert.equal(deriveAppName(['node', '/x/myServer.py']), 'my_server');
  assert.equal(deriveAppName(['node', 'C:\\x\\HTTPGateway.ts']), 'http_gateway');
  assert.equal(deriveAppName(['node', '/x/tracker.js']), 'tracker');
  assert.equal(deriveAppName(['node']), undefined);
  assert.equal(deriveInstance(['node', 'x', '-i', '2']), '2');
  assert.equal(deriveInstance(['node', 'x', '--instance', 'b']), 'b');
  assert.equal(deriveInstance(['node', 'x', '--instance=7']), '7');
  assert.equal(deriveInstance(['node', 'x', '-i4']), '4');
  assert.equal(deriveInstance(['node', 'x']), undefined);
});

test('service name: option > OTEL_SERVICE_NAME > <app>-<instance>', () => {
  assert.equal(resolveConfig({}, {}, argv).serviceName, 'tracker_server-3');
  assert.equal(resolveConfig({}, {}, ['node']).serviceName, 'app-0');
  assert.equal(resolveConfig({ appName: 'tracker', instance: '0' }, {}, argv).serviceName, 'tracker-0');
  assert.equal(resolveConfig({}, { OTEL_SERVICE_NAME: 'svc' }, argv).serviceName, 'svc');
  assert.equal(resolveConfig({ serviceName: 'opt' }, { OTEL_SERVICE_NAME: 'svc' }, argv).serviceName, 'opt');
});

test('endpoint ladder, first match wins', () => {
  const full = {
    ECOENV_EXTRA_TRACKER_0_OTLP_TRACES_ENDPOINT: 'http://instance:4318/v1/traces',
    ECOENV_EXTRA_TRACKER_OTLP_TRACES_ENDPOINT: 'http://app:4318/v1/traces',
    ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: 'http://machine:4318/v1/traces',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel-traces:4318/custom',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318/',
  };
  const order = [
    'ECOENV_EXTRA_TRACKER_0_OTLP_TRACES_ENDPOINT',
    'ECOENV_EXTRA_TRACKER_OTLP_TRACES_ENDPOINT',
    'ECOENV_EXTRA_OTLP_TRACES_ENDPOINT',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
  ] as const;
  const expected = [
    'http://instance:4318/v1/traces',
    'http://app:4318/v1/traces',
    'http://machine:4318/v1/traces',
    'http://otel-traces:4318/custom',
    'http://otel:4318/v1/traces',
  ];
  const opts = { appName: 'tracker', instance: '0' };
  const env: Record<string, string> = { ...full };
  for (let i = 0; i < order.length; i++) {
    assert.equal(resolveConfig(opts, env).endpoint, expected[i]);
    delete env[order[i]!];
  }
  assert.equal(resolveConfig(opts, env).endpoint, 'http://localhost:4318/v1/traces');
  assert.equal(
    resolveConfig({ ...opts, endpoint: 'https://opt.example/v1/traces' }, full).endpoint,
    'https://opt.example/v1/traces',
  );
  // another app's variables are not ours
  assert.equal(
    resolveConfig(
      { appName: 'billing', instance: '0' },
      { ECOENV_EXTRA_TRACKER_OTLP_TRACES_ENDPOINT: 'http://x:1/' },
    ).endpoint,
    'http://localhost:4318/v1/traces',
  );
});

test('the other extras follow the same ladder, then their OTEL twins', () => {
  const opts = { appName: 'tracker', instance: '0' };
  const c = resolveConfig(opts, {
    ECOENV_EXTRA_TRACKER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
    OTEL_EXPORTER_OTLP_HEADERS: 'ignored=1',
    ECOENV_EXTRA_OTLP_TRACES_TIMEOUT: '2500',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '9999',
    ECOENV_EXTRA_TRACKER_0_OTLP_TRACES_COMPRESSION: 'gzip',
    ECOENV_EXTRA_OTLP_TRACES_RECORD: '/tmp/rec.ndjson',
  });
  assert.deepEqual(c.headers, { authorization: 'Bearer abc', 'x-tenant': 't1' });
  assert.equal(c.timeoutMillis, 2500);
  assert.equal(c.compression, 'gzip');
  assert.equal(c.recordPayloadsTo, '/tmp/rec.ndjson');
  const o = resolveConfig(opts, {
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=1',
    OTEL_EXPORTER_OTLP_HEADERS: 'b=2',
    OTEL_EXPORTER_OTLP_TIMEOUT: '700',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
    OTEL_BSP_MAX_QUEUE_SIZE: '100',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
    OTEL_BSP_SCHEDULE_DELAY: '250',
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '64',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%2Cb',
  });
  assert.deepEqual(o.headers, { a: '1' });
  assert.equal(o.timeoutMillis, 700);
  assert.equal(o.compression, 'none');
  assert.equal(o.maxQueueSize, 100);
  assert.equal(o.maxExportBatchSize, 50);
  assert.equal(o.scheduledDelayMillis, 250);
  assert.equal(o.attributeValueLengthLimit, 64);
  assert.deepEqual(o.resourceAttributes, { 'deployment.environment': 'prod', team: 'a,b' });
});

test('defaults', () => {
  const c = resolveConfig({}, {}, ['node']);
  assert.equal(c.endpoint, 'http://localhost:4318/v1/traces');
  assert.equal(c.timeoutMillis, 10_000);
  assert.equal(c.compression, 'none');
  assert.equal(c.maxQueueSize, 2048);
  assert.equal(c.maxExportBatchSize, 512);
  assert.equal(c.scheduledDelayMillis, 1000);
  assert.equal(c.spanTimeoutMillis, 60_000);
  assert.equal(c.maxOpenSpans, 10_000);
  assert.equal(c.shutdownTimeoutMillis, 5000);
  assert.equal(c.sampler, 1);
  assert.equal(c.enabled, true);
  assert.equal(c.attributeValueLengthLimit, 8192);
});

test('sampler variables and switches', () => {
  assert.equal(
    resolveConfig({}, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).sampler,
    0.25,
  );
  assert.equal(
    resolveConfig({}, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' }).sampler,
    0.5,
  );
  assert.equal(resolveConfig({}, { OTEL_TRACES_SAMPLER: 'always_off' }).enabled, false);
  assert.equal(resolveConfig({}, { OTEL_SDK_DISABLED: 'true' }).enabled, false);
  assert.equal(resolveConfig({}, { OTEL_SDK_DISABLED: 'false' }).enabled, true);
  assert.equal(resolveConfig({ sampler: 0.1 }, { OTEL_TRACES_SAMPLER: 'always_off' }).sampler, 0.1);
});

test('malformed values are start-up errors naming the variable', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [
      { ECOENV_EXTRA_TRACKER_OTLP_TRACES_TIMEOUT: 'abc' },
      /^ECOENV_EXTRA_TRACKER_OTLP_TRACES_TIMEOUT: "abc" is not a number from 1 to 2147483647$/,
    ],
    [{ ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: 'not a url' }, /^ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: has no http:\/\//],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }, /^OTEL_EXPORTER_OTLP_ENDPOINT: is not an http:\/\/ or https:/],
    [
      { OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'brotli' },
      /^OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "brotli" is not "gzip" or "none"$/,
    ],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '-1' }, /^OTEL_BSP_MAX_QUEUE_SIZE: "-1" is not a whole number from 1 to 10000000$/],
    [
      { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
      /^OTEL_TRACES_SAMPLER_ARG: "2" is not a number from 0 to 1$/,
    ],
    [
      { OTEL_TRACES_SAMPLER: 'sometimes' },
      /^OTEL_TRACES_SAMPLER: "sometimes" is not always_on, always_off or traceidratio$/,
    ],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, /^OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value/],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: '0' }, /^OTEL_EXPORTER_OTLP_TIMEOUT: "0" is not a number from 1 to 2147483647$/],
    [
      { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '2.5' },
      /^OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: "2.5" is not a whole number from 0 up$/,
    ],
  ];
  for (const [env, re] of bad) {
    assert.throws(
      () => resolveConfig({ appName: 'tracker', instance: '0' }, env),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(env),
    );
  }
});

test('credentials in an endpoint URL are refused and never repeated', () => {
  for (const src of [{ endpoint: 'http://user:hunter2@collector:4318/v1/traces' }]) {
    assert.throws(
      () => resolveConfig(src, {}),
      (e: Error) =>
        e.message === 'option endpoint: holds a user name or password: send credentials as a header instead' &&
        !e.message.includes('hunter2'),
    );
  }
  assert.throws(
    () => resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://admin:s3cret@x' }),
    (e: Error) => e.message.startsWith('OTEL_EXPORTER_OTLP_ENDPOINT:') && !e.message.includes('s3cret'),
  );
});

test('a malformed header value is reported without the value', () => {
  assert.throws(
    () => resolveConfig({ headers: { authorization: 'Bearer SECRET\r\nX: y' } }, {}),
    (e: Error) =>
      e.message === `option headers: the value of header authorization ${NOT_VISIBLE}` &&
      !e.message.includes('SECRET'),
  );
  assert.throws(
    () => resolveConfig({}, { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=%E0%A4%A' }),
    (e: Error) =>
      /^OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value/.test(e.message) && !e.message.includes('%E0'),
  );
});

test('options with wrong types or ranges: a clear error naming the option', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ timeoutMillis: 'fast' }, /^option timeoutMillis: "fast" is not a number from 1 to 2147483647$/],
    [{ timeoutMillis: 0 }, /^option timeoutMillis: 0 is not a number from 1 to 2147483647$/],
    [{ maxQueueSize: 1.5 }, /^option maxQueueSize: 1.5 is not a whole number from 1 to 10000000$/],
    [{ maxExportBatchSize: -3 }, /^option maxExportBatchSize: -3 is not a whole number from 1 to 10000000$/],
    [{ scheduledDelayMillis: NaN }, /^option scheduledDelayMillis: NaN is not a number from 0 to 2147483647$/],
    [{ sampler: 1.5 }, /^option sampler: 1.5 is not a number from 0 to 1$/],
    [{ compression: 'zstd' }, /^option compression: "zstd" is not "gzip" or "none"$/],
    [{ endpoint: 42 }, /^option endpoint: 42 is not a string$/],
    [{ endpoint: 'localhost:4318' }, /^option endpoint: has no http:\/\/ or https:\/\/ scheme \(e\.g\. http:/],
    [{ headers: 'a=b' }, /^option headers: "a=b" is not an object$/],
    [{ headers: { 'bad name': 'x' } }, /^option headers: "bad name" is not a valid header name$/],
    [
      { resourceAttributes: { a: {} } },
      /^option resourceAttributes\["a"\]: an object is not a string, number, boolean or array of them$/,
    ],
    [{ exporter: {} }, /^option exporter: an object is not an object with export\(\)$/],
    [{ clock: 5 }, /^option clock: 5 is not a function$/],
    [{ idGenerator: { spanId: 'x' } }, /^option idGenerator: an object is not \{ traceId\?\(\), spanId\?\(\) \}$/],
    [{ logger: 'console' }, /^option logger: "console" is not a function or \{ warn\(\) \}$/],
    [{ spanTimeoutMillis: -1 }, /^option spanTimeoutMillis: -1 is not a number from 1 to 2147483647$/],
    [{ maxOpenSpans: 0 }, /^option maxOpenSpans: 0 is not a whole number from 1 to 10000000$/],
    [{ retry: { maxAttempts: 0 } }, /^option retry\.maxAttempts: 0 is not a whole number from 1 to 100$/],
    [{ enabled: 'yes' }, /^option enabled: "yes" is not true or false$/],
    [{ enabled: null }, /^option enabled: null is not true or false$/],
    [{ retry: [] }, /^option retry: an array is not an object$/],
    [{ clock: () => 1, exporter: () => 1 }, /^option exporter: a function is not an object with export\(\)$/],
    [{ endpont: 'http://x' }, /^unknown option "endpont"$/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(
      () => new OtlpTracingMiddleware(opts as never),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(opts),
    );
  }
  assert.throws(
    () => new OtlpTracingMiddleware('x' as never),
    (e: Error) => e instanceof ConfigError && e.message === 'options: "x" is not an object',
  );
});

test('initiateOtlpTracing: one call registers both middlewares and resolves env at start-up', async () => {
  const saved = { ...process.env };
  try {
    process.env.ECOENV_EXTRA_TRACKER_0_OTLP_TRACES_ENDPOINT = 'http://127.0.0.1:1/v1/traces';
    const mm = new MiddlewareManager();
    const bm = new BufferedMiddlewareManager();
    const t = initiateOtlpTracing({
      appName: 'tracker',
      instance: '0',
      middlewareManager: mm,
      bufferedMiddlewareManager: bm,
      exporter: new InMemoryExporter(),
    });
    assert.deepEqual(mm.list(), [t.tracer]);
    assert.deepEqual(bm.list(), [t.buffered]);
    assert.equal(t.tracer.tracer.config.endpoint, 'http://127.0.0.1:1/v1/traces');
    assert.equal(t.tracer.tracer.config.serviceName, 'tracker-0');
    await t.shutdown();
    process.env.ECOENV_EXTRA_TRACKER_OTLP_TRACES_TIMEOUT = 'soon';
    assert.throws(
      () =>
        initiateOtlpTracing({
          appName: 'tracker',
          instance: '0',
          middlewareManager: mm,
          bufferedMiddlewareManager: bm,
        }),
      /ECOENV_EXTRA_TRACKER_OTLP_TRACES_TIMEOUT: "soon"/,
    );
    assert.equal(mm.list().length, 1, 'nothing registered when configuration fails');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('initiateOtlpTracing registers with the singleton managers by default', async () => {
  const before = MiddlewareManager.instance().list().length;
  const t = initiateOtlpTracing({ exporter: new InMemoryExporter() });
  assert.equal(MiddlewareManager.instance().list().length, before + 1);
  assert.equal(BufferedMiddlewareManager.instance().list().at(-1), t.buffered);
  await t.shutdown();
});

// issue 13 item 2: header values are written as latin1, so U+010D U+010A would become CR LF on the wire.
const NOT_VISIBLE = 'is not visible ASCII (letters, digits, punctuation, spaces)';
const HEADER_VARIABLES = [
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'ECOENV_EXTRA_OTLP_TRACES_HEADERS',
];

test('header names and values that are not visible ASCII are refused, naming the source but not the value', () => {
  const injected = 'x-a=ok%C4%8D%C4%8AX-Injected%3A%20yes';
  for (const name of [...HEADER_VARIABLES, 'ECOENV_EXTRA_TRACKER_0_OTLP_TRACES_HEADERS']) {
    assert.throws(
      () => resolveConfig({ appName: 'tracker', instance: '0' }, { [name]: injected }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === `${name}: the value of header x-a ${NOT_VISIBLE}` &&
        !e.message.includes('Injected'),
      name,
    );
  }
  const values = ['Bearer SECRET\u010d\u010aX: y', 'SECRET\r\nX: y', 'SECRET\u0000', 'SECRÉT', 'SECRET\u007f'];
  for (const value of values) {
    assert.throws(
      () => resolveConfig({ headers: { authorization: value } }, {}),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === `option headers: the value of header authorization ${NOT_VISIBLE}` &&
        !e.message.includes('SECRET'),
      JSON.stringify(value),
    );
  }
  assert.throws(
    () => resolveConfig({ headers: { 'x-\u010d': 'v' } }, {}),
    (e: Error) => e instanceof ConfigError && e.message === 'option headers: "x-\u010d" is not a valid header name',
  );
  // Spaces and tabs inside a value are fine (an Authorization scheme needs one); so is every visible ASCII character.
  const visible = '!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~';
  const ok = resolveConfig({ headers: { authorization: 'Bearer a\tb', 'x-all': visible } }, {});
  assert.deepEqual(ok.headers, { authorization: 'Bearer a\tb', 'x-all': visible });
});

test('Host, Content-Length, Transfer-Encoding and Connection cannot be configured as headers', () => {
  const setByClient = 'Host, Content-Length, Transfer-Encoding and Connection';
  const message = `is not a header that can be configured (the HTTP client sets ${setByClient})`;
  for (const name of ['Host', 'content-length', 'Transfer-Encoding', 'CONNECTION']) {
    assert.throws(
      () => resolveConfig({ headers: { [name]: 'SECRET' } }, {}),
      (e: Error) => e instanceof ConfigError && e.message === `option headers: "${name}" ${message}`,
      name,
    );
    for (const variable of HEADER_VARIABLES) {
      assert.throws(
        () => resolveConfig({}, { [variable]: `a=1,${name}=SECRET` }),
        (e: Error) =>
          e instanceof ConfigError &&
          e.message === `${variable}: "${name}" ${message}` &&
          !e.message.includes('SECRET'),
        `${variable} ${name}`,
      );
    }
  }
});

// issue 13 item 8
test('OTEL_EXPORTER_OTLP_ENDPOINT with a query string: /v1/traces goes into the path', () => {
  const cases: [string, string][] = [
    ['http://otel:4318?tenant=a', 'http://otel:4318/v1/traces?tenant=a'],
    ['http://otel:4318/?tenant=a&b=c', 'http://otel:4318/v1/traces?tenant=a&b=c'],
    ['https://otel.example/base/?tenant=a', 'https://otel.example/base/v1/traces?tenant=a'],
    ['https://otel.example/base//', 'https://otel.example/base/v1/traces'],
    ['http://otel:4318', 'http://otel:4318/v1/traces'],
  ];
  for (const [base, expected] of cases) {
    assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: base }).endpoint, expected, base);
  }
  // The signal-specific variable is used as it is.
  const traces = 'http://otel:4318/t?x=1';
  assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces }).endpoint, traces);
});

test('an endpoint without a scheme says that it has none, not that it holds credentials', () => {
  const noScheme = 'has no http:// or https:// scheme (e.g. http://collector:4318/v1/traces)';
  const cases: [Record<string, string>, string][] = [
    [{ ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: 'collector:4318/v1' }, `ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: ${noScheme}`],
    [{ ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: 'localhost:4318' }, `ECOENV_EXTRA_OTLP_TRACES_ENDPOINT: ${noScheme}`],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4318' },
      'OTEL_EXPORTER_OTLP_ENDPOINT: has no http:// or https:// scheme (e.g. http://collector:4318)',
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/v1/traces' },
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: is not an http:// or https:// URL',
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://exa mple/' },
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: is not a valid URL',
    ],
  ];
  for (const [env, message] of cases) {
    const matches = (e: Error) => e instanceof ConfigError && e.message === message;
    assert.throws(() => resolveConfig({}, env), matches, JSON.stringify(env));
  }
  assert.throws(
    () => resolveConfig({ endpoint: 'user:SECRET@collector:4318' }, {}),
    (e: Error) => e.message === `option endpoint: ${noScheme}`,
  );
});
