// The package as users get it: `npm pack` on a fresh clone (no dist/: "prepack" builds it),
// installed into an empty project, then imported from JavaScript, type-checked from
// TypeScript and run as a CLI there; and the same from a CommonJS project (what `npm init`
// writes), through require().
//
// Pack runs in a copy of the working tree without dist/ (node_modules linked, not copied), so
// this test never deletes or rewrites the repo's dist/ while other spec files run in parallel.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../lib/util/version.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, any>;
const NPM = 'npm';
const NPX = 'npx';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** npm without network, notices or colour. */
const ENV = {
  ...process.env,
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  npm_config_color: 'false',
  npm_config_loglevel: 'error',
  NO_COLOR: '1',
};

function run(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: ENV, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

describe('package.json', () => {
  it('has no runtime dependencies and only the three dev dependencies', () => {
    const fields = [
      'dependencies',
      'optionalDependencies',
      'peerDependencies',
      'bundleDependencies',
      'bundledDependencies',
    ];
    for (const field of fields) {
      const v = pkg[field];
      const empty = v === undefined || (typeof v === 'object' && Object.keys(v).length === 0);
      assert.ok(empty, `${field} must be absent or empty`);
    }
    assert.deepEqual(Object.keys(pkg.devDependencies).sort(), ['@types/node', 'tsx', 'typescript']);
  });

  it('lib/util/version.ts VERSION equals the package version', () => {
    assert.equal(VERSION, pkg.version);
  });

  it('points main, types, exports and bin into dist/', () => {
    assert.equal(pkg.type, 'module');
    assert.equal(pkg.main, './dist/index.js');
    assert.equal(pkg.types, './dist/index.d.ts');
    // "default", not "import": require() of these ES modules works too (Node 20.19+, 22.12+).
    assert.deepEqual(pkg.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' });
    assert.deepEqual(pkg.exports['./handler'], { types: './dist/handler.d.ts', default: './dist/handler.js' });
    assert.deepEqual(pkg.exports['./host'], { types: './dist/testing/host.d.ts', default: './dist/testing/host.js' });
    assert.deepEqual(pkg.exports['./core'], { types: './dist/core.d.ts', default: './dist/core.js' });
    assert.deepEqual(Object.keys(pkg.exports), ['.', './package.json', './handler', './host', './core']);
    assert.equal(pkg.scripts.prepack, 'npm run build', 'npm pack builds dist/ first');
    assert.deepEqual(pkg.bin, { 'ekosis-otlp-traces': './dist/cli/main.js' });
    for (const script of ['build', 'test', 'demo']) {
      assert.equal(typeof pkg.scripts[script], 'string', `script ${script}`);
    }
  });

  it('sideEffects: only the span API, which turns itself on when imported (bare imports of ./handler stay)', () => {
    assert.deepEqual(pkg.sideEffects, ['./dist/handler.js', './dist/api/active-span.js']);
  });
});

/**
 * The lib/ modules (paths under lib/, no extension) reached from lib/index.ts by static and
 * dynamic relative imports, each resolved through `swap`.
 */
function reached(swap: Record<string, string>): Map<string, string> {
  const seen = new Map<string, string>(); // module path -> its source
  const visit = (name: string): void => {
    name = swap[name] ?? name;
    if (seen.has(name)) return;
    const src = readFileSync(join(ROOT, 'lib', `${name}.ts`), 'utf8');
    seen.set(name, src);
    for (const m of src.matchAll(/(?:from |import\()'(\.\.?\/[\w/.-]+)\.js'/g)) {
      visit(posix.join(posix.dirname(name), m[1]!));
    }
  };
  visit('index');
  return seen;
}

describe('runtimes (package.json "browser")', () => {
  /** "./dist/platform/node/index.js" -> "platform/node/index" */
  const moduleOf = (file: string): string => file.replace(/^\.\/dist\/(.*)\.js$/, '$1');
  const browser = Object.fromEntries(
    Object.entries(pkg.browser as Record<string, string>).map(([from, to]) => [moduleOf(from), moduleOf(to)]),
  );

  it('one mapping, Node platform to web platform: a browser bundle of the main entry reaches no node: module', () => {
    assert.deepEqual(browser, { 'platform/node/index': 'platform/web/index' });
    const names = [...reached(browser).keys()];
    assert.ok(names.includes('platform/web/transport') && names.includes('platform/web/recorder'), names.join());
    for (const [name, src] of reached(browser)) {
      assert.doesNotMatch(src, /from 'node:|import\('node:/, `${name} imports node:`);
    }
  });

  it('a Node bundle reaches no web module', () => {
    const names = [...reached({}).keys()];
    assert.ok(names.includes('platform/node/transport') && names.includes('platform/node/recorder'), names.join());
    for (const name of names) assert.ok(!name.startsWith('platform/web/'), `${name} is reached on Node`);
  });

  it('each web module exports what the Node module it stands for exports', async () => {
    for (const part of ['index', 'transport', 'recorder', 'context']) {
      const node = Object.keys(await import(`../lib/platform/node/${part}.ts`)).sort();
      const web = Object.keys(await import(`../lib/platform/web/${part}.ts`)).sort();
      assert.deepEqual(web, node, `platform/web/${part} vs platform/node/${part}`);
    }
  });

  it('recording where there are no files reports it once and records nothing', async () => {
    const { PayloadFile } = await import('../lib/platform/web/recorder.ts');
    const said: string[] = [];
    const file = new PayloadFile('/tmp/x.ndjson', (m) => said.push(m));
    file.append(new Uint8Array([123, 125]));
    file.append(new Uint8Array([123, 125]));
    await file.close();
    assert.deepEqual(said, ['cannot record payloads to /tmp/x.ndjson: no file system in this runtime']);
  });
});

describe('npm pack, installed into an empty project', { timeout: 120_000 }, () => {
  let tmp: string;
  let tarball: string;
  let packed: string[];
  let consumer: string;
  /** A project as `npm init -y` leaves it: CommonJS. */
  let cjsConsumer: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ekosis-otlp-traces-pack-'));
    // A copy of the working tree as it is (what `npm pack` in the repo would see), minus the
    // generated and tool folders.
    const stage = join(tmp, 'stage');
    const skip = new Set(['node_modules', '.git', 'dist', '.tmp']);
    cpSync(ROOT, stage, {
      recursive: true,
      filter: (src) => {
        const rel = relative(ROOT, src);
        return rel === '' || !(skip.has(rel.split(sep)[0]!) || rel.endsWith('.tgz'));
      },
    });
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
    // As on a fresh clone: no build before packing.
    assert.ok(!existsSync(join(stage, 'dist')), 'the stage has no dist/');
    const out = join(tmp, 'out');
    mkdirSync(out);
    const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', out], stage);
    const info = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(out, info[0]!.filename);
    packed = info[0]!.files.map((f) => f.path).sort();

    consumer = join(tmp, 'consumer');
    mkdirSync(consumer);
    await run(NPM, ['init', '-y'], consumer);
    const cpkg = JSON.parse(readFileSync(join(consumer, 'package.json'), 'utf8')) as Record<string, unknown>;
    cpkg.type = 'module';
    writeFileSync(join(consumer, 'package.json'), JSON.stringify(cpkg, null, 2));
    await run(NPM, ['install', tarball, '--no-audit', '--no-fund', '--offline'], consumer);

    cjsConsumer = join(tmp, 'cjs-consumer');
    mkdirSync(cjsConsumer);
    await run(NPM, ['init', '-y'], cjsConsumer);
    await run(NPM, ['install', tarball, '--no-audit', '--no-fund', '--offline'], cjsConsumer);
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('holds exactly dist/ (JS + .d.ts of every lib/ module), README.md, LICENSE and package.json', () => {
    assert.ok(existsSync(tarball), tarball);
    const modules = (readdirSync(join(ROOT, 'lib'), { recursive: true }) as string[])
      .map((f) => f.split(sep).join('/'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => f.slice(0, -3));
    const built = modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`]);
    const expected = ['LICENSE', 'README.md', 'package.json', ...built].sort();
    assert.deepEqual(packed, expected);
  });

  it('works from JavaScript: setup helper, middlewares, in-memory exporter, host, recording, span API', async () => {
    writeFileSync(
      join(consumer, 'use.js'),
      `import {
  initiateOtlpTracing, OtlpTracingMiddleware, InMemoryExporter, MiddlewareManager, BufferedMiddlewareManager,
} from 'ekosis-otlp-traces';
import { EcoHost } from 'ekosis-otlp-traces/host';
import { currentSpan } from 'ekosis-otlp-traces/handler';

const exporter = new InMemoryExporter();
const middlewareManager = new MiddlewareManager();
const bufferedMiddlewareManager = new BufferedMiddlewareManager();
const tracing = initiateOtlpTracing({
  appName: 'tracker', instance: '0', exporter, middlewareManager, bufferedMiddlewareManager,
  recordPayloadsTo: process.argv[2], handlerSpans: true,
});
if (!(tracing.tracer instanceof OtlpTracingMiddleware)) throw new Error('not an OtlpTracingMiddleware');
class LogRequestFailDTO { constructor(data) { this.data = data; } }
let attempts = 0;
const host = new EcoHost({ middlewareManager, bufferedMiddlewareManager })
  .endpoint('tracker.log_request', () => ({ ok: true, trace: currentSpan().spanKey()?.trace_id }))
  .bufferedEndpoint('tracker.log_request_fail', () => ++attempts > 1, { model: LogRequestFailDTO });
const span_key = { trace_id: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708', span_id: '9c7e5a3b1d0f2e4c' };
const answer = await host.request({ route_key: 'tracker.log_request', span_key, data: {} });
await host.request({ route_key: 'tracker.log_request_fail', span_key, data: {} });
await host.drain();
await tracing.shutdown();
const doc = exporter.parsed()[0];
const resource = Object.fromEntries(doc.resourceSpans[0].resource.attributes.map((a) => [a.key, a.value.stringValue]));
console.log(JSON.stringify({
  spans: exporter.spans.map((s) => [s.name, s.kind, s.statusCode]),
  resource,
  scope: doc.resourceSpans[0].scopeSpans[0].scope,
  stats: tracing.tracer.stats(),
  answer,
}));
`,
    );
    const record = join(consumer, 'traces.ndjson');
    const { stdout, stderr } = await run(process.execPath, ['use.js', record], consumer);
    assert.equal(stderr, '');
    const r = JSON.parse(stdout) as Record<string, any>;
    assert.deepEqual(r.spans, [
      ['tracker.log_request', 2, 1],
      ['tracker.log_request_fail', 2, 1],
      ['LogRequestFailDTO.process', 5, 2],
      ['LogRequestFailDTO.process', 5, 1],
    ]);
    assert.equal(r.resource['service.name'], 'tracker-0');
    assert.equal(r.resource['telemetry.sdk.name'], 'ekosis-otlp-traces');
    assert.equal(r.resource['telemetry.sdk.version'], pkg.version);
    assert.deepEqual(r.scope, { name: 'ekosis-otlp-traces', version: pkg.version });
    assert.equal(r.stats.ended, 4);
    assert.equal(r.stats.exported, 4);
    assert.deepEqual(r.answer, { ok: true, trace: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708' }, 'the handler saw its span');

    // The installed CLI reads what the installed tracer recorded.
    const show = await run(NPX, ['--no', '--', 'ekosis-otlp-traces', 'show', record], consumer);
    assert.match(show.stdout, /^trace 3f2a1b4c5d6e4f8091a2b3c4d5e6f708$/m);
    assert.match(
      show.stdout,
      /^└─ tracker\.log_request_fail  \[tracker-0\]  SERVER  .*  OK  ↑ remote parent 9c7e5a3b1d0f2e4c$/m,
    );
    assert.match(
      show.stdout,
      /^ {3}├─ LogRequestFailDTO\.process  \[tracker-0\]  CONSUMER  .*  ERROR: process attempt failed$/m,
    );
  });

  it('type-checks from TypeScript against the installed declarations (NodeNext)', async () => {
    writeFileSync(
      join(consumer, 'check.ts'),
      `import {
  MiddlewareBase, BufferedMiddlewareBase, MiddlewareManager, BufferedMiddlewareManager,
  OtlpTracingMiddleware, OtlpBufferedTracingMiddleware, initiateOtlpTracing, InMemoryExporter, ConfigError, VERSION,
  type SpanKey, type RequestDTO, type OtlpTracingOptions, type ExportStats,
} from 'ekosis-otlp-traces';
import { EcoHost } from 'ekosis-otlp-traces/host';
import { createTracer, SpanKind, StatusCode, type CoreSpan, type CoreTracerOptions } from 'ekosis-otlp-traces/core';

const coreOptions: CoreTracerOptions = { serviceName: 'edge-fn', endpoint: 'https://collector:4318/v1/traces' };
const coreSpan: CoreSpan = createTracer(coreOptions).startSpan('GET /orders', { kind: SpanKind.SERVER });
coreSpan.setAttribute('http.route', '/orders').setStatus({ code: StatusCode.OK }).end();
// @ts-expect-error serviceName is required
const coreBad: CoreTracerOptions = { endpoint: 'http://localhost:4318/v1/traces' };

const options: OtlpTracingOptions = {
  endpoint: 'http://localhost:4318/v1/traces', serviceName: 'tracker-0', headers: { authorization: 'Bearer x' },
  timeoutMillis: 10_000, compression: 'gzip', maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 1000,
  spanTimeoutMillis: 60_000, maxOpenSpans: 10_000, resourceAttributes: { 'deployment.environment': 'test', shard: 3 },
  sampler: 0.5, recordPayloadsTo: 'traces.ndjson', exporter: new InMemoryExporter(), clock: () => 1n,
  idGenerator: { spanId: () => '0000000000000001' }, logger: { warn: (m: string) => void m },
};
const tracer = new OtlpTracingMiddleware(options);
const buffered: BufferedMiddlewareBase = new OtlpBufferedTracingMiddleware(tracer);
const regular: MiddlewareBase = tracer;
MiddlewareManager.instance().add(regular);
BufferedMiddlewareManager.instance().add(buffered);
const incoming: SpanKey = { trace_id: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708', span_id: '9c7e5a3b1d0f2e4c' };
const key: SpanKey = tracer.outgoingSpanKey(incoming);
const dto: RequestDTO = { route_key: 'tracker.log_request', span_key: key, data: null };
const stats: ExportStats = tracer.stats();
const total: number = stats.exported + stats.dropped + stats.rejected + stats.failed + stats.queued + stats.inFlight;
const { shutdown }: { shutdown(): Promise<void> } = initiateOtlpTracing({ appName: 'tracker', instance: '0' });
const host = new EcoHost().endpoint('tracker.log_request', (d: RequestDTO) => d.data);
const version: string = VERSION;
const err: Error = new ConfigError('x');
// The declarations are real types, not any:
// @ts-expect-error compression is 'gzip' | 'none'
new OtlpTracingMiddleware({ compression: 'brotli' });
// @ts-expect-error span_id is required
const bad: SpanKey = { trace_id: 'x' };
export { dto, total, shutdown, host, version, err, bad, coreBad };
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['check.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
  });

  it('runs the CLI: npx ekosis-otlp-traces --help', async () => {
    const bin = join(consumer, 'node_modules', 'ekosis-otlp-traces', 'dist', 'cli', 'main.js');
    assert.ok(existsSync(bin), 'dist/cli/main.js is in the package');
    const { stdout } = await run(NPX, ['ekosis-otlp-traces', '--help'], consumer);
    assert.match(stdout, /^Usage: ekosis-otlp-traces <command>/);
    assert.match(stdout, /\breceive\b/);
    assert.match(stdout, /\bshow\b/);
    const receive = await run(NPX, ['ekosis-otlp-traces', 'receive', '--help'], consumer);
    assert.match(
      receive.stdout,
      /^Usage: ekosis-otlp-traces receive \[--port 4318\] \[--host 127\.0\.0\.1\] \[--record FILE\]/,
    );
  });
  it('works from a CommonJS project (npm init defaults) through require(), with nothing on stderr', async () => {
    const cpkg = JSON.parse(readFileSync(join(cjsConsumer, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.ok(cpkg.type === undefined || cpkg.type === 'commonjs', `npm init wrote type ${String(cpkg.type)}`);
    writeFileSync(
      join(cjsConsumer, 'use.js'),
      `const { initiateOtlpTracing, InMemoryExporter, MiddlewareManager, BufferedMiddlewareManager, VERSION } =
  require('ekosis-otlp-traces');
const { EcoHost } = require('ekosis-otlp-traces/host');
const core = require('ekosis-otlp-traces/core');

const exporter = new InMemoryExporter();
const middlewareManager = new MiddlewareManager();
const bufferedMiddlewareManager = new BufferedMiddlewareManager();
const managers = { middlewareManager, bufferedMiddlewareManager };
const tracing = initiateOtlpTracing({ appName: 'tracker', instance: '0', exporter, ...managers });
const host = new EcoHost(managers).endpoint('tracker.log_request', () => ({ ok: true }));
const span_key = { trace_id: '3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708', span_id: '9c7e5a3b1d0f2e4c' };
(async () => {
  await host.request({ route_key: 'tracker.log_request', span_key, data: {} });
  await host.drain();
  await tracing.shutdown();
  const coreExporter = new core.InMemoryExporter();
  const tracer = core.createTracer({ serviceName: 'edge-fn', exporter: coreExporter });
  tracer.startSpan('GET /orders', { kind: core.SpanKind.SERVER }).end();
  await tracer.shutdown();
  const spans = [...exporter.spans, ...coreExporter.spans].map((s) => [s.name, s.kind, s.statusCode]);
  console.log(JSON.stringify({ version: VERSION, spans }));
})();
`,
    );
    const { stdout, stderr } = await run(process.execPath, ['use.js'], cjsConsumer);
    assert.equal(stderr, '');
    const spans = [['tracker.log_request', 2, 1], ['GET /orders', 2, 0]];
    assert.deepEqual(JSON.parse(stdout), { version: pkg.version, spans });
  });

  it('type-checks from a CommonJS TypeScript project against the installed declarations (NodeNext)', async () => {
    writeFileSync(
      join(cjsConsumer, 'check.ts'),
      `import { initiateOtlpTracing, InMemoryExporter, ConfigError, type OtlpTracingOptions } from 'ekosis-otlp-traces';
import { EcoHost } from 'ekosis-otlp-traces/host';
import { createTracer, SpanKind, StatusCode, type CoreSpan, type CoreTracerOptions } from 'ekosis-otlp-traces/core';

const coreOptions: CoreTracerOptions = { serviceName: 'edge-fn', endpoint: 'https://collector:4318/v1/traces' };
const coreSpan: CoreSpan = createTracer(coreOptions).startSpan('GET /orders', { kind: SpanKind.SERVER });
coreSpan.setAttribute('http.route', '/orders').setStatus({ code: StatusCode.OK }).end();
// @ts-expect-error serviceName is required
const coreBad: CoreTracerOptions = { endpoint: 'http://localhost:4318/v1/traces' };

const options: OtlpTracingOptions = { exporter: new InMemoryExporter(), compression: 'gzip' };
const { shutdown }: { shutdown(): Promise<void> } = initiateOtlpTracing(options);
const host = new EcoHost();
const err: Error = new ConfigError('x');
// The declarations are real types, not any:
// @ts-expect-error compression is 'gzip' | 'none'
const bad: OtlpTracingOptions = { compression: 'brotli' };
export { shutdown, host, err, bad };
`,
    );
    writeFileSync(
      join(cjsConsumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          outDir: 'out',
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['check.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], cjsConsumer);
    // Compiled as CommonJS (require(), not import), and it runs.
    const compiled = readFileSync(join(cjsConsumer, 'out', 'check.js'), 'utf8');
    assert.match(compiled, /require\("ekosis-otlp-traces"\)/);
    const runCheck = `require('./out/check.js').shutdown().then(() => console.log('ok'));\n`;
    writeFileSync(join(cjsConsumer, 'run-check.js'), runCheck);
    assert.equal((await run(process.execPath, ['run-check.js'], cjsConsumer)).stdout, 'ok\n');
  });
});
