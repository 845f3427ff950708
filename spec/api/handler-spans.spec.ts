// The golden fixture of the span API (fixtures/handler-spans.ndjson, byte-checked with the others
// by spec/fixtures.spec.ts): what its spans say, and how `show` and `receive` draw them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../../lib/cli/main.ts';
import { startReceiver } from '../../lib/cli/receiver.ts';
import { flatten, setup, dto, KEY, HEX } from '../helpers/tracing.ts';
import { annotatedHandler } from '../fixtures/scenarios.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/handler-spans.ndjson', import.meta.url));

const TREE = `trace 3f2a1b4c5d6e4f8091a2b3c4d5e6f708
└─ tracker.log_request  [tracker-0]  SERVER  1.750 ms  OK  ↑ remote parent 9c7e5a3b1d0f2e4c
     request.trace_id  = "3f2a1b4c-5d6e-4f80-91a2-b3c4d5e6f708"
     request.span_id   = "9c7e5a3b1d0f2e4c"
     request.route_key = "tracker.log_request"
     user.id           = 42
     event validated at +0.250 ms: fields.count=2
   └─ order.save  [tracker-0]  INTERNAL  1.000 ms
        order.items = 3
        event queued.for.retry at +0.750 ms
      └─ db.insert  [tracker-0]  CLIENT  0.250 ms  ERROR: Error: connection reset
           db.system = "sqlite"
           event exception at +0.250 ms: exception.type="Error" exception.message="connection reset" \
exception.stacktrace="Error: connection reset" (+1 line)
`;

test('the fixture: an attribute and an event on the request span, two nested children, the inner one failed', () => {
  const payloads = readFileSync(FIXTURE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
  const [insert, save, request] = flatten(payloads);
  assert.deepEqual([insert!.name, save!.name, request!.name], ['db.insert', 'order.save', 'tracker.log_request']);
  const ids = [request!.spanId, save!.spanId, insert!.spanId];
  assert.deepEqual(ids, ['0000000000000001', '0000000000000002', '0000000000000003']);
  const parents = [request!.parentSpanId, save!.parentSpanId, insert!.parentSpanId];
  assert.deepEqual(parents, [KEY.span_id, request!.spanId, save!.spanId]);
  assert.deepEqual([request!.traceId, save!.traceId, insert!.traceId], [HEX, HEX, HEX]);
  assert.deepEqual([request!.kind, save!.kind, insert!.kind], [2, 1, 3]);
  assert.deepEqual([request!.flags, save!.flags, insert!.flags], [0x301, 0x101, 0x101]);
  assert.deepEqual(request!.attributes['user.id'], { int: '42' });
  assert.deepEqual(request!.events, [{ name: 'validated', attributes: { 'fields.count': { int: '2' } } }]);
  assert.deepEqual([request!.status, save!.status], [{ code: 1 }, undefined]);
  assert.deepEqual(insert!.status, { code: 2, message: 'Error: connection reset' });
  assert.deepEqual(insert!.events, [
    {
      name: 'exception',
      attributes: {
        'exception.type': 'Error',
        'exception.message': 'connection reset',
        'exception.stacktrace': 'Error: connection reset\n    at insert (orders.ts:17:9)',
      },
    },
  ]);
});

test('show draws the fixture as one nested tree', async () => {
  let stdout = '';
  let stderr = '';
  const code = await main(['show', FIXTURE], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  assert.deepEqual({ code, stderr }, { code: 0, stderr: '' });
  assert.equal(stdout.trimEnd() + '\n', TREE.replace('\\\n', ''));
});

test('receive, over real HTTP from the exporter, prints the same tree', async () => {
  const printed: string[] = [];
  const rx = await startReceiver({ port: 0, print: (text) => printed.push(text), log: () => undefined });
  try {
    const t = setup({ exporter: undefined, endpoint: rx.url, handlerSpans: true });
    t.host.endpoint('tracker.log_request', annotatedHandler);
    await t.host.request(dto('tracker.log_request', KEY, { message: 'hello' }));
    await t.shutdown();
    assert.deepEqual(t.tracer.stats().exported, 3);
    assert.equal(printed.join('').trimEnd() + '\n', TREE.replace('\\\n', ''));
  } finally {
    await rx.close();
  }
});
