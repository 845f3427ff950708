// The HTTP exporter against a real OTLP/HTTP server on 127.0.0.1 (no mocked fetch): exact
// payloads and headers, retry policy (Retry-After as seconds and as a date, 429, 503), 400,
// 413 split, partial success, refused / hanging endpoints, the shutdown deadline, gzip,
// keep-alive, payload recording, odd 200 bodies, and stats that always add up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { OtlpTracingMiddleware, type ExportStats, type RequestDTO, type SpanKey } from '../../lib/index.ts';
import { failOnUnhandled } from '../helpers/no-unhandled.ts';
import { FakeReceiver, withReceiver, OK, refusedPort } from '../helpers/receiver-fake.ts';

// ---------------------------------------------------------------------------------------------
// Process-level safety net: nothing the exporter does may reject unhandled or throw uncaught.
failOnUnhandled();

// ---------------------------------------------------------------------------------------------
// Helpers

const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns
const MS = 1_000_000n;
const FAST_RETRY = { maxAttempts: 3, initialBackoffMillis: 10, maxBackoffMillis: 40, maxRetryAfterMillis: 5000 };

/** A span_key for request i: a UUID trace id and a 16-hex caller span id, both non-zero. */
function keyOf(i: number): SpanKey {
  const h = (0xabc00000 + i).toString(16).padStart(32, '0');
  return {
    trace_id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
    span_id: 'c' + i.toString(16).padStart(15, '0'),
  };
}

function hexOf(key: SpanKey): string {
  return key.trace_id.replace(/-/g, '');
}

interface Harness {
  mw: OtlpTracingMiddleware;
  lines: string[];
}

function tracer(endpoint: string, opts: Record<string, unknown> = {}): Harness {
  const lines: string[] = [];
  const mw = new OtlpTracingMiddleware({
    endpoint,
    serviceName: 'tracker-0',
    scheduledDelayMillis: 60_000,
    retry: FAST_RETRY,
    logger: (m: string) => void lines.push(m),
    ...opts,
  });
  return { mw, lines };
}

/** One request through both hooks; asserts they hand back exactly what they were given. */
async function request(mw: OtlpTracingMiddleware, i: number, route = 'tracker.log_request'): Promise<void> {
  const dto: RequestDTO = { route_key: route, span_key: keyOf(i), data: { n: i } };
  const response = { ok: i };
  assert.equal(await mw.beforeRouting({ protocolDto: dto }), dto);
  assert.equal(await mw.afterRouting({ protocolDto: dto, responseDto: response }), response);
}

async function requests(mw: OtlpTracingMiddleware, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await request(mw, i);
}

function addsUp(s: ExportStats): void {
  assert.equal(
    s.exported + s.dropped + s.rejected + s.failed + s.queued + s.inFlight,
    s.ended,
    `stats add up: ${JSON.stringify(s)}`,
  );
}

function counts(s: ExportStats) {
  const { ended, exported, dropped, rejected, failed, queued, inFlight } = s;
  return { ended, exported, dropped, rejected, failed, queued, inFlight };
}

/** Every span id accepted (2xx) by the receiver must be there exactly once. */
function deliveredOnce(rcv: FakeReceiver, n: number): void {
  const acc = rcv.accepted();
  assert.equal(acc.size, n, 'distinct spans accepted');
  for (const [id, c] of acc) assert.equal(c, 1, `span ${id} accepted ${c} times`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Success: the exact payload and headers

test('success: exact spans, resource, scope, content-type and custom headers on the wire', async () => {
  await withReceiver(OK, async (rcv) => {
    let t = T0;
    let sid = 0;
    let tid = 0;
    const { mw, lines } = tracer(rcv.url, {
      headers: { 'X-Tenant': 'acme', authorization: 'Bearer t0k3n-abc' },
      clock: () => (t += MS), // every reading 1 ms later
      idGenerator: {
        spanId: () => (++sid).toString(16).padStart(16, '0'),
        traceId: () => 'f' + (++tid).toString(16).padStart(31, '0'),
      },
      resourceAttributes: { 'deployment.environment': 'test' },
    });
    const a = keyOf(1);
    await request(mw, 1, 'tracker.log_request');
    // A span_key with an unusable trace id: a fresh trace, no parent, flagged.
    const bad = { route_key: 'tracker.get', span_key: { trace_id: 'nope', span_id: 'x' }, data: null };
    assert.equal(await mw.beforeRouting({ protocolDto: bad as unknown as RequestDTO }), bad);
    assert.equal(await mw.afterRouting({ protocolDto: bad as unknown as RequestDTO, responseDto: 7 }), 7);
    // A handler failure.
    const c = keyOf(3);
    const failing: RequestDTO = { route_key: 'tracker.fail', span_key: c, data: {} };
    await mw.beforeRouting({ protocolDto: failing });
    await mw.routingFailed({ protocolDto: failing, error: new TypeError('boom') });

    await mw.forceFlush();
    assert.equal(rcv.requests.length, 1);
    const r = rcv.requests[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/v1/traces');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers['x-tenant'], 'acme');
    assert.equal(r.headers['authorization'], 'Bearer t0k3n-abc');
    assert.equal(Number(r.headers['content-length']), r.raw.length);

    const p = r.payload;
    assert.equal(p.resourceSpans.length, 1);
    assert.equal(p.resourceSpans[0].scopeSpans.length, 1);
    assert.deepEqual(p.resourceSpans[0].resource.attributes, [
      { key: 'service.name', value: { stringValue: 'tracker-0' } },
      { key: 'telemetry.sdk.name', value: { stringValue: 'ekosis-otlp-traces' } },
      { key: 'telemetry.sdk.language', value: { stringValue: 'nodejs' } },
      { key: 'telemetry.sdk.version', value: { stringValue: '0.1.0' } },
      { key: 'deployment.environment', value: { stringValue: 'test' } },
    ]);
    assert.deepEqual(p.resourceSpans[0].scopeSpans[0].scope, { name: 'ekosis-otlp-traces', version: '0.1.0' });

    const [s1, s2, s3] = r.spans;
    // Clock readings: 1 at construction, then one per start/end: 2,3 | 4,5 | 6,7.
    const ns = (k: bigint) => String(T0 + k * MS);
    assert.deepEqual(s1, {
      traceId: hexOf(a),
      spanId: '0000000000000001',
      parentSpanId: a.span_id,
      flags: 0x301,
      name: 'tracker.log_request',
      kind: 2,
      startTimeUnixNano: ns(2n),
      endTimeUnixNano: ns(3n),
      attributes: [
        { key: 'request.trace_id', value: { stringValue: a.trace_id } },
        { key: 'request.span_id', value: { stringValue: a.span_id } },
        { key: 'request.route_key', value: { stringValue: 'tracker.log_request' } },
      ],
      status: { code: 1 },
    });
    assert.deepEqual(s2, {
      traceId: 'f0000000000000000000000000000001',
      spanId: '0000000000000002',
      flags: 0x101,
      name: 'tracker.get',
      kind: 2,
      startTimeUnixNano: ns(4n),
      endTimeUnixNano: ns(5n),
      attributes: [
        { key: 'request.trace_id', value: { stringValue: 'f0000000-0000-0000-0000-000000000001' } },
        { key: 'request.span_key_invalid', value: { boolValue: true } },
        { key: 'request.route_key', value: { stringValue: 'tracker.get' } },
      ],
      status: { code: 1 },
    });
    assert.equal(s3.traceId, hexOf(c));
    assert.equal(s3.spanId, '0000000000000003');
    assert.equal(s3.parentSpanId, c.span_id);
    assert.equal(s3.name, 'tracker.fail');
    assert.equal(s3.kind, 2);
    assert.equal(s3.startTimeUnixNano, ns(6n));
    assert.equal(s3.endTimeUnixNano, ns(7n));
    assert.deepEqual(s3.status, { code: 2, message: 'TypeError: boom' });
    assert.equal(s3.events.length, 1);
    assert.equal(s3.events[0].name, 'exception');
    assert.equal(s3.events[0].timeUnixNano, ns(7n));
    const ev = Object.fromEntries(s3.events[0].attributes.map((kv: any) => [kv.key, kv.value.stringValue]));
    assert.equal(ev['exception.type'], 'TypeError');
    assert.equal(ev['exception.message'], 'boom');
    assert.match(ev['exception.stacktrace'], /TypeError: boom/);

    const s = mw.stats();
    assert.deepEqual(counts(s), { ended: 3, exported: 3, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0 });
    assert.equal(s.retries, 0);
    assert.equal(s.bytesSent, r.raw.length);
    addsUp(s);
    await mw.shutdown();
    assert.deepEqual(lines, []);
  });
});

// ---------------------------------------------------------------------------------------------
// Retry policy

test('503 with Retry-After: 1 then 200: delivered once, one retry, the server-given wait honoured', async () => {
  await withReceiver(
    ({ req }) => (req.attempt === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200, body: '{}' }),
    async (rcv) => {
      // initialBackoffMillis 10: a gap near 1 s can only come from Retry-After.
      const { mw, lines } = tracer(rcv.url, { retry: { ...FAST_RETRY, maxRetryAfterMillis: 5000 } });
      await requests(mw, 4);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 2);
      assert.deepEqual(rcv.requests.map((r) => r.status), [503, 200]);
      assert.equal(rcv.requests[1]!.json, rcv.requests[0]!.json, 'the same payload re-sent');
      const gap = rcv.requests[1]!.at - rcv.requests[0]!.at;
      assert.ok(gap >= 900 && gap < 4000, `waited ${gap.toFixed(0)} ms for Retry-After: 1`);
      deliveredOnce(rcv, 4);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 4, exported: 4, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 1);
      assert.equal(s.bytesSent, rcv.requests[0]!.raw.length * 2);
      addsUp(s);
      await mw.shutdown();
      // The first failure is said at once, with its cause (a retry may never come if the process exits).
      assert.equal(lines.length, 1, lines.join('\n'));
      const where = /^\[ekosis-otlp-traces\] http:\/\/127\.0\.0\.1:\d+\/v1\/traces: /;
      const retrying = /HTTP 503; retrying 4 spans \(up to 2 more attempts\)$/;
      assert.match(lines[0]!, new RegExp(where.source + retrying.source));
    },
  );
});

test('Retry-After is capped by maxRetryAfterMillis', async () => {
  await withReceiver(
    ({ req }) => (req.attempt === 1 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 200 }),
    async (rcv) => {
      const { mw } = tracer(rcv.url, { retry: { ...FAST_RETRY, maxRetryAfterMillis: 200 } });
      await requests(mw, 1);
      const t0 = performance.now();
      await mw.forceFlush();
      const took = performance.now() - t0;
      const gap = rcv.requests[1]!.at - rcv.requests[0]!.at;
      assert.ok(gap >= 150 && gap < 3000, `capped wait ${gap.toFixed(0)} ms`);
      assert.ok(took < 5000);
      assert.equal(mw.stats().exported, 1);
      assert.equal(mw.stats().retries, 1);
      await mw.shutdown();
    },
  );
});

test('Retry-After as an HTTP date is honoured', async () => {
  await withReceiver(
    ({ req }) =>
      req.attempt === 1
        ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } }
        : { status: 200, body: '' },
    async (rcv) => {
      const { mw } = tracer(rcv.url);
      await requests(mw, 2);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 2);
      // HTTP dates have whole seconds: "now + 2 s" truncated is 1 to 2 s away.
      const gap = rcv.requests[1]!.at - rcv.requests[0]!.at;
      assert.ok(gap >= 800 && gap < 4000, `waited ${gap.toFixed(0)} ms for a date 1-2 s ahead`);
      deliveredOnce(rcv, 2);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 2, exported: 2, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 1);
      await mw.shutdown();
    },
  );
});

test('429 then 200: retried with backoff, delivered once', async () => {
  await withReceiver(
    ({ req }) => (req.attempt === 1 ? { status: 429, body: 'slow down' } : { status: 200, body: '{}' }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await requests(mw, 3);
      await mw.forceFlush();
      assert.deepEqual(rcv.requests.map((r) => r.status), [429, 200]);
      deliveredOnce(rcv, 3);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 3, exported: 3, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 1);
      await mw.shutdown();
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /: HTTP 429; retrying 3 spans \(up to 2 more attempts\)$/);
    },
  );
});

test('400: rejected at once, not retried, one warning naming the status and the cost', async () => {
  await withReceiver(
    () => ({ status: 400, headers: { 'content-type': 'text/plain' }, body: 'invalid span: missing traceId' }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await requests(mw, 5);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 1);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 5, exported: 0, dropped: 0, rejected: 5, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 0);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^\[ekosis-otlp-traces\] /);
      assert.match(lines[0]!, /HTTP 400/);
      assert.match(lines[0]!, /invalid span: missing traceId/);
      assert.match(lines[0]!, /5 spans rejected/);
      await mw.shutdown();
    },
  );
});

test('413: the batch is split and re-sent until it fits; every span delivered exactly once', async () => {
  const LIMIT = 3;
  await withReceiver(
    ({ req }) => (req.spans.length > LIMIT ? { status: 413, body: 'too large' } : { status: 200, body: '{}' }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await requests(mw, 10);
      await mw.forceFlush();
      // 10 → 413; 5 + 5 → 413 each; 3 + 2 + 3 + 2 → 200.
      assert.deepEqual(rcv.requests.map((r) => [r.spans.length, r.status]), [
        [10, 413], [5, 413], [3, 200], [2, 200], [5, 413], [3, 200], [2, 200],
      ]);
      deliveredOnce(rcv, 10);
      const sent = [...rcv.accepted().keys()].sort();
      const all = rcv.requests[0]!.spanIds.slice().sort();
      assert.deepEqual(sent, all, 'the accepted spans are exactly the original batch');
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 10, exported: 10, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.bytesSent, rcv.requests.reduce((n, r) => n + r.raw.length, 0));
      await mw.shutdown();
      assert.deepEqual(lines, []);
    },
  );
});

test('413 for a single span: that span is rejected, the others delivered', async () => {
  await withReceiver(
    ({ req }) => (req.json.includes('tracker.huge') ? { status: 413 } : { status: 200 }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await request(mw, 0);
      await request(mw, 1, 'tracker.huge');
      await request(mw, 2);
      await mw.forceFlush();
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 3, exported: 2, dropped: 0, rejected: 1, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /HTTP 413.*1 spans rejected/);
      await mw.shutdown();
    },
  );
});

test('partial success: rejectedSpans counted as rejected, the rest exported, errorMessage logged', async () => {
  await withReceiver(
    () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"2 spans had an empty name"}}',
    }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await requests(mw, 5);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 1);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 5, exported: 3, dropped: 0, rejected: 2, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 0);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /partially: 2 spans rejected: 2 spans had an empty name/);
      addsUp(s);
      await mw.shutdown();
    },
  );
});

test('partial success with rejectedSpans as a JSON number works too', async () => {
  await withReceiver(
    () => ({ status: 200, body: '{"partialSuccess":{"rejectedSpans":2,"errorMessage":"quota"}}' }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      await requests(mw, 4);
      await mw.forceFlush();
      assert.deepEqual(counts(mw.stats()), {
        ended: 4, exported: 2, dropped: 0, rejected: 2, failed: 0, queued: 0, inFlight: 0,
      });
      assert.match(lines.join('\n'), /quota/);
      await mw.shutdown();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Endpoint down or silent

test('connection refused: failed after maxAttempts, one warning for many batches', async () => {
  const port = await refusedPort();
  const { mw, lines } = tracer(`http://127.0.0.1:${port}/v1/traces`, { maxExportBatchSize: 4 });
  await requests(mw, 16); // 4 batches
  const t0 = performance.now();
  await mw.forceFlush();
  const took = performance.now() - t0;
  const s = mw.stats();
  assert.deepEqual(counts(s), { ended: 16, exported: 0, dropped: 0, rejected: 0, failed: 16, queued: 0, inFlight: 0 });
  assert.equal(s.retries, 4 * (FAST_RETRY.maxAttempts - 1), 'every batch re-sent maxAttempts - 1 times');
  assert.ok(took < 5000, `gave up in ${took.toFixed(0)} ms`);
  // The first failure at once, with its cause; then the first batch given up; the rest rate-limited.
  assert.equal(lines.length, 2, `rate-limited: ${lines.join('\n')}`);
  assert.match(lines[0]!, /127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED.*; retrying 4 spans \(up to 2 more/);
  assert.match(lines[1]!, /^\[ekosis-otlp-traces\] could not deliver to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: /);
  assert.match(lines[1]!, /ECONNREFUSED.* after 3 attempts; 4 spans failed$/);
  await mw.shutdown();
  // Shutdown says, once, what the rate limit held back.
  assert.equal(lines.length, 3);
  const heldBack = 'export-retrying: 3 more like it; export-failed: 3 more like it, costing 12 spans';
  assert.equal(lines[2]!, `[ekosis-otlp-traces] not reported individually: ${heldBack}`);
});

test('hang: a request that never gets an answer times out, is retried like a network error, then fails', async () => {
  await withReceiver(
    () => ({ hang: true }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url, { timeoutMillis: 200, retry: { ...FAST_RETRY, maxAttempts: 2 } });
      await requests(mw, 3);
      const t0 = performance.now();
      await mw.forceFlush();
      const took = performance.now() - t0;
      assert.equal(rcv.requests.length, 2, 'first attempt and one retry');
      assert.equal(rcv.requests[1]!.json, rcv.requests[0]!.json);
      assert.ok(took >= 380 && took < 5000, `two 200 ms timeouts took ${took.toFixed(0)} ms`);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 3, exported: 0, dropped: 0, rejected: 0, failed: 3, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 1);
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0]!, /: timeout \(no answer within 200 ms\); retrying 3 spans \(up to 1 more attempt\)$/);
      assert.match(lines[1]!, /timeout \(no answer within 200 ms\) after 2 attempts; 3 spans failed/);
      await mw.shutdown();
    },
  );
});

test(
  'shutdown deadline: resolves in time against a hanging server; in flight → failed, queued → dropped',
  async () => {
    await withReceiver(
      () => ({ hang: true }),
      async (rcv) => {
        const { mw, lines } = tracer(rcv.url, { maxExportBatchSize: 2, shutdownTimeoutMillis: 300 });
        await requests(mw, 10);
        const flushed = mw.forceFlush(); // starts two requests of 2 spans; 6 stay queued
        for (let i = 0; i < 100 && rcv.requests.length < 2; i++) await sleep(10);
        assert.equal(rcv.requests.length, 2);
        assert.deepEqual(counts(mw.stats()), {
          ended: 10, exported: 0, dropped: 0, rejected: 0, failed: 0, queued: 6, inFlight: 4,
        });

        const t0 = performance.now();
        await mw.shutdown();
        const took = performance.now() - t0;
        assert.ok(took >= 250 && took < 300 + 700, `shutdown took ${took.toFixed(0)} ms for a 300 ms deadline`);
        await flushed; // a pending forceFlush is released too
        const s = mw.stats();
        assert.deepEqual(counts(s), {
          ended: 10, exported: 0, dropped: 6, rejected: 0, failed: 4, queued: 0, inFlight: 0,
        });
        addsUp(s);
        assert.equal(lines.length, 1);
        const report =
          'shutdown deadline passed with 6 spans still queued (dropped) and 4 spans in flight (counted as failed)';
        assert.equal(lines[0]!, `[ekosis-otlp-traces] ${report}`);

        // Second call: harmless, immediate, nothing changes.
        const t1 = performance.now();
        await mw.shutdown();
        assert.ok(performance.now() - t1 < 100);
        assert.deepEqual(mw.stats(), s);
        // After shutdown the hooks pass through and create no spans.
        await request(mw, 99);
        assert.deepEqual(mw.stats(), s);
        assert.equal(rcv.requests.length, 2, 'no request after shutdown');
      },
    );
  },
);

// ---------------------------------------------------------------------------------------------
// Wire details

test('gzip: Content-Encoding gzip, and the gunzipped body is byte for byte the uncompressed payload', async () => {
  const bodies: { raw: Buffer; json: string; headers: Record<string, unknown> }[] = [];
  for (const compression of ['none', 'gzip'] as const) {
    await withReceiver(OK, async (rcv) => {
      let t = T0;
      let sid = 0;
      const { mw } = tracer(rcv.url, {
        compression,
        clock: () => (t += MS),
        idGenerator: { spanId: () => (++sid).toString(16).padStart(16, '0') },
      });
      await requests(mw, 20);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 1);
      const r = rcv.requests[0]!;
      bodies.push({ raw: r.raw, json: r.json, headers: r.headers });
      assert.equal(mw.stats().bytesSent, r.raw.length, 'bytesSent counts the body as sent');
      assert.equal(mw.stats().exported, 20);
      await mw.shutdown();
    });
  }
  const [plain, gz] = bodies as [(typeof bodies)[0], (typeof bodies)[0]];
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers['content-type'], 'application/json');
  assert.ok(gz.raw.length < plain.raw.length / 3, `gzip shrinks ${plain.raw.length} → ${gz.raw.length}`);
  assert.ok(gunzipSync(gz.raw).equals(plain.raw), 'gunzipped body is the exact same bytes');
  assert.equal(gz.json, plain.json);
});

test('keep-alive: several batches reuse one connection', async () => {
  await withReceiver(OK, async (rcv) => {
    const { mw } = tracer(rcv.url);
    for (let b = 0; b < 4; b++) {
      await requests(mw, 5, b * 5);
      await mw.forceFlush();
    }
    assert.equal(rcv.requests.length, 4);
    assert.equal(rcv.connections, 1, 'one socket for four batches');
    assert.deepEqual(new Set(rcv.requests.map((r) => r.connection)).size, 1);
    assert.equal(mw.stats().exported, 20);
    await mw.shutdown();
  });
});

test('recordPayloadsTo: the file holds exactly the bytes the server received, one line each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-record-'));
  try {
    const file = join(dir, 'nested', 'payloads.ndjson');
    await withReceiver(OK, async (rcv) => {
      const { mw } = tracer(rcv.url, { recordPayloadsTo: file });
      for (let b = 0; b < 3; b++) {
        await requests(mw, 2 + b, b * 10);
        await mw.forceFlush();
      }
      await mw.shutdown(); // closes the file
      const text = readFileSync(file);
      const received = Buffer.concat(rcv.requests.flatMap((r) => [r.raw, Buffer.from('\n')]));
      assert.equal(rcv.requests.length, 3);
      assert.ok(text.equals(received), 'file = received bodies, each followed by a newline');
      const lines = text.toString('utf8').split('\n');
      assert.equal(lines.pop(), '');
      assert.deepEqual(lines.map((l) => JSON.parse(l).resourceSpans[0].scopeSpans[0].spans.length), [2, 3, 4]);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('200 with an empty, cut-off or non-JSON body: exported, not retried', async () => {
  const bodies = ['', '{"partialSuccess":{"rejectedSpans":"1', '<html>ok</html>', 'null', '{"partialSuccess":null}'];
  await withReceiver(
    ({ count }) => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: bodies[(count - 1) % bodies.length],
    }),
    async (rcv) => {
      const { mw, lines } = tracer(rcv.url);
      for (let b = 0; b < bodies.length; b++) {
        await requests(mw, 2, b * 2);
        await mw.forceFlush();
      }
      assert.equal(rcv.requests.length, bodies.length);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 10, exported: 10, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
      });
      assert.equal(s.retries, 0);
      await mw.shutdown();
      assert.deepEqual(lines, []);
    },
  );
});

test('stats add up at every moment of a mixed run (flapping endpoint, small queue, shutdown)', async () => {
  await withReceiver(
    ({ count }) => (count % 3 === 0 ? { status: 503 } : count % 3 === 1 ? { status: 200 } : { status: 400 }),
    async (rcv) => {
      const { mw } = tracer(rcv.url, { maxQueueSize: 20, maxExportBatchSize: 5, scheduledDelayMillis: 5 });
      const seen: ExportStats[] = [];
      for (let i = 0; i < 200; i++) {
        await request(mw, i);
        seen.push(mw.stats());
        if (i % 25 === 0) await sleep(2);
      }
      await mw.forceFlush();
      seen.push(mw.stats());
      await mw.shutdown();
      seen.push(mw.stats());
      for (const s of seen) addsUp(s);
      const s = seen.at(-1)!;
      assert.equal(s.ended, 200);
      assert.equal(s.queued + s.inFlight, 0);
      assert.ok(s.exported > 0 && s.rejected > 0 && s.dropped > 0, JSON.stringify(s));
    },
  );
});

test('body buffers reused across batches: every payload intact, recorded copies intact too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-reuse-'));
  try {
    const file = join(dir, 'payloads.ndjson');
    await withReceiver(OK, async (rcv) => {
      // 256-span batches make bodies over 64 KB, the size whose buffers are kept for reuse
      const { mw } = tracer(rcv.url, { recordPayloadsTo: file, maxExportBatchSize: 256, maxQueueSize: 4096 });
      for (let b = 0; b < 8; b++) {
        for (let i = 0; i < 256; i++) await request(mw, b * 256 + i, `route.${b}`);
        if (b % 2 === 1) await mw.forceFlush(); // two batches in flight at once, then settle
      }
      await mw.forceFlush();
      await mw.shutdown();
      deliveredOnce(rcv, 2048);
      // each payload holds exactly its own batch: one route, 256 distinct requests
      const routes = rcv.requests.map((r) => {
        const spans = JSON.parse(r.json).resourceSpans[0].scopeSpans[0].spans as { name: string }[];
        assert.equal(spans.length, 256);
        assert.equal(new Set(spans.map((s) => s.name)).size, 1);
        return spans[0]!.name;
      });
      assert.deepEqual(routes.sort(), [0, 1, 2, 3, 4, 5, 6, 7].map((b) => `route.${b}`));
      const received = Buffer.concat(rcv.requests.flatMap((r) => [r.raw, Buffer.from('\n')]));
      assert.ok(readFileSync(file).equals(received), 'recorded bytes are the bytes sent, buffers reused or not');
      addsUp(mw.stats());
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Hardening (issue 13): time bounds, Retry-After, accounting, diagnostics

/** Resolves with the value, or 'timeout' after ms (the timer never outlives the race). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const r = await Promise.race([p, late]);
  clearTimeout(timer);
  return r;
}

test('Retry-After that is negative is ignored: the backoff applies instead of an immediate retry', async () => {
  await withReceiver(
    ({ req }) => (req.attempt === 1 ? { status: 503, headers: { 'retry-after': '-5' } } : { status: 200, body: '{}' }),
    async (rcv) => {
      // A backoff of 400 ms: its jittered wait is 200-400 ms; an honoured "-5" would be 0 ms.
      const { mw } = tracer(rcv.url, { retry: { ...FAST_RETRY, initialBackoffMillis: 400, maxBackoffMillis: 400 } });
      await requests(mw, 1);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 2);
      const gap = rcv.requests[1]!.at - rcv.requests[0]!.at;
      assert.ok(gap >= 190 && gap < 3000, `waited ${gap.toFixed(0)} ms after Retry-After: -5`);
      assert.equal(mw.stats().exported, 1);
      await mw.shutdown();
    },
  );
});

test('one time budget per batch across 413 splits and retries: a 413-then-503 collector gives up in time', async () => {
  await withReceiver(
    ({ req }) => (req.spans.length > 1 ? { status: 413 } : { status: 503 }),
    async (rcv) => {
      // Without a budget: 8 single-span payloads × 99 waits of 50 ms = 40 s.
      const retry = {
        maxAttempts: 100,
        initialBackoffMillis: 50,
        maxBackoffMillis: 50,
        maxRetryAfterMillis: 50,
        maxBatchMillis: 600,
      };
      const { mw, lines } = tracer(rcv.url, { retry, shutdownTimeoutMillis: 200 });
      await requests(mw, 8);
      const t0 = performance.now();
      const flushed = await within(mw.forceFlush(), 4000);
      const took = performance.now() - t0;
      await mw.shutdown();
      assert.notEqual(flushed, 'timeout', 'the batch gave up within its budget');
      assert.ok(took >= 500 && took < 2500, `one batch took ${took.toFixed(0)} ms for a 600 ms budget`);
      const s = mw.stats();
      assert.deepEqual(counts(s), {
        ended: 8, exported: 0, dropped: 0, rejected: 0, failed: 8, queued: 0, inFlight: 0,
      });
      const givenUp = /HTTP 503 after \d+ attempts, the batch's 600 ms budget spent; 1 spans failed/;
      assert.ok(lines.some((l) => givenUp.test(l)), lines.join('\n'));
    },
  );
});

test("shutdown(deadline) resolves by the deadline even when a custom exporter's shutdown never settles", async () => {
  const lines: string[] = [];
  const exported: number[] = [];
  const mw = new OtlpTracingMiddleware({
    serviceName: 'tracker-0',
    shutdownTimeoutMillis: 300,
    logger: (m: string) => void lines.push(m),
    exporter: {
      export: async (batch) => {
        exported.push(batch.spans.length);
        return { exported: batch.spans.length, rejected: 0, failed: 0 };
      },
      shutdown: () => new Promise<void>(() => undefined),
    },
  });
  await requests(mw, 2);
  const t0 = performance.now();
  const done = await within(mw.shutdown(), 3000);
  const took = performance.now() - t0;
  assert.notEqual(done, 'timeout', 'shutdown resolved');
  assert.ok(took < 300 + 300, `shutdown took ${took.toFixed(0)} ms for a 300 ms deadline`);
  assert.deepEqual(exported, [2]);
  assert.deepEqual(counts(mw.stats()), {
    ended: 2, exported: 2, dropped: 0, rejected: 0, failed: 0, queued: 0, inFlight: 0,
  });
  assert.deepEqual(lines, []);
});

test('bytesSent counts only the bodies of requests that got a response', async () => {
  await withReceiver(
    ({ req }) => (req.attempt === 1 ? { hang: true } : { status: 200, body: '{}' }),
    async (rcv) => {
      const { mw } = tracer(rcv.url, { timeoutMillis: 200 });
      await requests(mw, 3);
      await mw.forceFlush();
      assert.equal(rcv.requests.length, 2, 'a timed-out attempt, then an answered one');
      const s = mw.stats();
      assert.equal(s.exported, 3);
      assert.equal(s.retries, 1);
      assert.equal(s.bytesSent, rcv.requests[1]!.raw.length, 'the unanswered body is not counted');
      await mw.shutdown();
    },
  );
});

test('the first failed attempt is logged at once with its cause, long before the last attempt', async () => {
  const port = await refusedPort();
  const slow = { maxAttempts: 5, initialBackoffMillis: 5000, maxBackoffMillis: 5000, maxRetryAfterMillis: 5000 };
  const { mw, lines } = tracer(`http://127.0.0.1:${port}/v1/traces`, { retry: slow, shutdownTimeoutMillis: 100 });
  await requests(mw, 2);
  void mw.forceFlush();
  for (let i = 0; i < 100 && lines.length === 0; i++) await sleep(10);
  assert.equal(lines.length, 1, 'said within 1 s, while the batch waits out a 2.5-5 s backoff');
  assert.match(lines[0]!, /^\[ekosis-otlp-traces\] http:\/\/127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED/);
  assert.match(lines[0]!, /; retrying 2 spans \(up to 4 more attempts\)$/);
  await mw.shutdown();
  assert.deepEqual(counts(mw.stats()), {
    ended: 2, exported: 0, dropped: 0, rejected: 0, failed: 2, queued: 0, inFlight: 0,
  });
});
