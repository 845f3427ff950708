// What the main entry promises in its types and at run time (issue 13 items 16, 17): the
// middleware's constructor takes appName / instance as initiateOtlpTracing does and refuses the
// manager options it cannot use; exporters see a read-only view of spans, not their internals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ConfigError, InMemoryExporter, MiddlewareManager, OtlpTracingMiddleware } from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import { KEY, HEX, dto, fakeClock, seqIds } from '../helpers/tracing.ts';

const INDEX = fileURLToPath(new URL('../../lib/index.ts', import.meta.url));

/** Type errors of a snippet that imports the main entry as `lib`, one "line: TSxxxx" each. */
function typeErrors(code: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-public-api-'));
  try {
    const file = join(dir, 'snippet.ts');
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(file, code.replace('LIB', INDEX));
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    });
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => {
        const line = d.file!.getLineAndCharacterOfPosition(d.start!).line + 1;
        return `${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('new OtlpTracingMiddleware({ appName, instance }) type-checks, and names the service', async () => {
  assert.deepEqual(
    typeErrors(`import { OtlpTracingMiddleware, initiateOtlpTracing, MiddlewareManager } from 'LIB';
new OtlpTracingMiddleware({ appName: 'billing', instance: '3', endpoint: 'http://localhost:4318/v1/traces' });
initiateOtlpTracing({ appName: 'billing', instance: '3', middlewareManager: new MiddlewareManager() });
// @ts-expect-error the middleware does not register itself: managers are initiateOtlpTracing's
new OtlpTracingMiddleware({ middlewareManager: new MiddlewareManager() });
`),
    [],
  );
  const mem = new InMemoryExporter();
  const tracer = new OtlpTracingMiddleware({ appName: 'billing', instance: '3', exporter: mem, clock: fakeClock().fn });
  await tracer.beforeRouting({ protocolDto: dto('r') });
  await tracer.afterRouting({ protocolDto: dto('r'), responseDto: 1 });
  await tracer.shutdown();
  type Payload = { resourceSpans: { resource: { attributes: { key: string; value: unknown }[] } }[] };
  const [payload] = mem.parsed() as Payload[];
  const name = payload!.resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name');
  assert.deepEqual(name?.value, { stringValue: 'billing-3' });
});

test('new OtlpTracingMiddleware refuses the manager options at run time too, saying why', () => {
  for (const option of ['middlewareManager', 'bufferedMiddlewareManager']) {
    assert.throws(
      () => new OtlpTracingMiddleware({ [option]: new MiddlewareManager() } as never),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message === `option ${option} is for initiateOtlpTracing only: add the middleware to your manager yourself`,
    );
  }
});

test('exporters see a read-only span view: ids in hex, attributes and events as objects, no internals', async () => {
  assert.deepEqual(
    typeErrors(`import { InMemoryExporter, type ReadableSpan, type SpanExporter } from 'LIB';
const mem = new InMemoryExporter();
const s: ReadableSpan = mem.spans[0]!;
const view: [string, number, string, string, string, number, number, string, number] =
  [s.name, s.kind, s.traceId, s.spanId, s.parentSpanId, s.flags, s.statusCode, s.statusMessage, s.durationNanos];
const attributes: Readonly<Record<string, unknown>> = s.attributes;
const events: readonly { name: string; attributes: Readonly<Record<string, unknown>> }[] = s.events;
// @ts-expect-error read-only
s.name = 'x';
// @ts-expect-error internal
s.rawTrace;
// @ts-expect-error internal
s.tid;
// @ts-expect-error internal
s.sid;
// @ts-expect-error internal
s.attrs;
const custom: SpanExporter = { export: async (batch) => ({ exported: batch.spans.length, rejected: 0, failed: 0 }) };
export { view, attributes, events, custom };
`),
    [],
  );
  const mem = new InMemoryExporter();
  const clock = fakeClock();
  const tracer = new OtlpTracingMiddleware({ exporter: mem, clock: clock.fn, idGenerator: seqIds() });
  const mm = new MiddlewareManager();
  mm.add(tracer);
  const host = new EcoHost({ middlewareManager: mm, autoProcess: false });
  host.endpoint('ok', () => 1);
  host.endpoint('boom', () => {
    throw new TypeError('bad input');
  });
  await host.request(dto('ok'));
  await host.request(dto('boom')).catch(() => undefined);
  await tracer.forceFlush();
  const [ok, boom] = mem.spans;
  assert.deepEqual(
    { ...pick(ok!), attributes: ok!.attributes, events: ok!.events },
    {
      name: 'ok',
      kind: 2,
      traceId: HEX,
      spanId: '0000000000000001',
      parentSpanId: KEY.span_id,
      flags: 0x301,
      statusCode: 1,
      statusMessage: '',
      durationNanos: 250_000,
      attributes: { 'request.trace_id': KEY.trace_id, 'request.span_id': KEY.span_id, 'request.route_key': 'ok' },
      events: [],
    },
  );
  assert.equal(boom!.statusCode, 2);
  assert.equal(boom!.statusMessage, 'TypeError: bad input');
  const events = boom!.events.map(({ name, attributes: a }) => [name, a['exception.type'], a['exception.message']]);
  assert.deepEqual(events, [['exception', 'TypeError', 'bad input']]);
  assert.ok(Object.isFrozen(ok!.attributes), 'the attributes object is read-only');
  await tracer.shutdown();
});

const VIEW = [
  ...['name', 'kind', 'traceId', 'spanId', 'parentSpanId', 'flags'],
  ...['statusCode', 'statusMessage', 'durationNanos'],
];

/** The scalar fields of the view (getters included, which a spread would miss). */
function pick(s: Record<string, any>) {
  const out: Record<string, unknown> = {};
  for (const field of VIEW) out[field] = s[field];
  return out;
}
