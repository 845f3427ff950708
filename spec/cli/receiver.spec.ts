// The OTLP/HTTP JSON receiver (lib/cli/receiver.ts) over real HTTP on 127.0.0.1, and the schema
// validator (lib/cli/validate.ts) it uses.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';
import { startReceiver, type Receiver } from '../../lib/cli/receiver.js';
import { validateExportRequest } from '../../lib/cli/validate.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/otel-js-sdk.ndjson', import.meta.url));

/** A payload shaped like this package's encoder writes it: ints as strings, defaults omitted. */
function samplePayload(): any {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'tracker-0' } },
            { key: 'telemetry.sdk.name', value: { stringValue: 'ekosis-otlp-traces' } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: 'ekosis-otlp-traces', version: '0.1.0' },
            spans: [
              {
                traceId: '7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4b',
                spanId: '26f5ac09e3264afb',
                parentSpanId: '1a2b3c4d5e6f7081',
                flags: 769,
                name: 'tracker.log_request_fail',
                kind: 2,
                startTimeUnixNano: '1795500582256000000',
                endTimeUnixNano: '1795500582257377909',
                attributes: [
                  { key: 'request.trace_id', value: { stringValue: '7b1e2d3c-4a5f-4e6d-8c7b-9a0f1e2d3c4b' } },
                  { key: 'request.span_id', value: { stringValue: '1a2b3c4d5e6f7081' } },
                  { key: 'request.route_key', value: { stringValue: 'tracker.log_request_fail' } },
                ],
                status: { code: 1 },
              },
              {
                traceId: '7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4b',
                spanId: '8d9cb290599b666e',
                parentSpanId: '26f5ac09e3264afb',
                flags: 257,
                name: 'LogRequestFailDTO.process',
                kind: 5,
                startTimeUnixNano: '1795500582258000000',
                endTimeUnixNano: '1795500582260382601',
                attributes: [
                  { key: 'request.retries', value: { intValue: '0' } },
                  { key: 'process.success', value: { boolValue: false } },
                  { key: 'process.ratio', value: { doubleValue: 2 } },
                  {
                    key: 'process.tags',
                    value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }, { boolValue: true }] } },
                  },
                  {
                    key: 'process.meta',
                    value: { kvlistValue: { values: [{ key: 'queue', value: { stringValue: 'log' } }] } },
                  },
                  { key: 'process.blob', value: { bytesValue: 'AAEC' } },
                ],
                events: [
                  {
                    timeUnixNano: '1795500582259500000',
                    name: 'exception',
                    attributes: [
                      { key: 'exception.type', value: { stringValue: 'Error' } },
                      { key: 'exception.message', value: { stringValue: 'store down' } },
                      {
                        key: 'exception.stacktrace',
                        value: { stringValue: 'Error: store down\n    at process (tracker.ts:1:1)' },
                      },
                    ],
                  },
                ],
                status: { code: 2, message: 'process attempt failed' },
              },
            ],
          },
        ],
      },
    ],
  };
}

const SAMPLE_TREE = `trace 7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4b
└─ tracker.log_request_fail  [tracker-0]  SERVER  1.378 ms  OK  ↑ remote parent 1a2b3c4d5e6f7081
     request.trace_id  = "7b1e2d3c-4a5f-4e6d-8c7b-9a0f1e2d3c4b"
     request.span_id   = "1a2b3c4d5e6f7081"
     request.route_key = "tracker.log_request_fail"
   └─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.383 ms  ERROR: process attempt failed
        request.retries = 0
        process.success = false
        process.ratio   = 2.0
        process.tags    = ["a", 7, true]
        process.meta    = {queue: "log"}
        process.blob    = <bytes AAEC>
        event exception at +1.500 ms: exception.type="Error" exception.message="store down" ` +
  `exception.stacktrace="Error: store down" (+1 line)
`;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  url: string,
  body: string | Buffer,
  opts: { method?: string; headers?: Record<string, string>; path?: string; agent?: Agent } = {},
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: opts.path ?? u.pathname,
        method: opts.method ?? 'POST',
        headers: { 'Content-Type': 'application/json', ...opts.headers },
        agent: opts.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function errorBody(message: string): string {
  return JSON.stringify({ code: 3, message });
}

describe('receiver', () => {
  let dir: string;
  let record: string;
  let rx: Receiver;
  let printed: string[];
  let logged: string[];
  let raws: Buffer[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekosis-receiver-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(async (t) => {
    record = join(dir, `${t.name.replace(/\W+/g, '_')}.ndjson`);
    printed = [];
    logged = [];
    raws = [];
    rx = await startReceiver({
      port: 0,
      record,
      print: (text) => printed.push(text),
      log: (line) => logged.push(line),
      onPayload: (_doc, raw) => raws.push(raw),
      maxBodyBytes: 64 * 1024,
      maxDecompressedBytes: 128 * 1024,
    });
  });

  afterEach(() => rx.close());

  it('accepts a valid payload: 200 {}, one recorded line, the tree printed', async () => {
    assert.equal(rx.url, `http://127.0.0.1:${rx.port}/v1/traces`);
    const body = JSON.stringify(samplePayload());
    const res = await send(rx.url, body);
    assert.equal(res.status, 200);
    assert.equal(res.body, '{}');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(readFileSync(record, 'utf8'), body + '\n');
    assert.deepEqual(printed, [SAMPLE_TREE]);
    assert.deepEqual(rx.stats(), { payloads: 1, spans: 2, rejected: 0 });
    assert.deepEqual(raws.map(String), [body]);
    assert.deepEqual(logged, []);
  });

  it('accepts a gzip body the same way, and records the decompressed JSON', async () => {
    const body = JSON.stringify(samplePayload());
    const res = await send(rx.url, gzipSync(body), {
      headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json; charset=utf-8' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, '{}');
    assert.equal(readFileSync(record, 'utf8'), body + '\n');
    assert.deepEqual(printed, [SAMPLE_TREE]);
    const res2 = await send(rx.url, deflateSync(body), { headers: { 'Content-Encoding': 'deflate' } });
    assert.equal(res2.status, 200);
    assert.equal(readFileSync(record, 'utf8'), body + '\n' + body + '\n');
  });

  it('records a multi-line body as one line, and keeps big JSON-number integers exact', async () => {
    const pretty = JSON.stringify(samplePayload(), null, 2).replace(
      '"intValue": "0"',
      '"intValue": 9007199254740993',
    );
    const res = await send(rx.url, pretty + '\r\n');
    assert.equal(res.status, 200);
    const line = readFileSync(record, 'utf8');
    assert.equal(line, pretty.replace(/\n/g, ' ') + '\n');
    assert.match(line, /"intValue": 9007199254740993/);
    assert.equal(line.split('\n').length, 2);
  });

  it('appends every payload in arrival order and counts a payload without spans', async () => {
    assert.equal((await send(rx.url, '{}')).status, 200);
    assert.equal((await send(rx.url, '{"resourceSpans":[]}')).status, 200);
    assert.equal(readFileSync(record, 'utf8'), '{}\n{"resourceSpans":[]}\n');
    assert.deepEqual(printed, ['(a payload without spans)\n', '(a payload without spans)\n']);
    assert.deepEqual(rx.stats(), { payloads: 2, spans: 0, rejected: 0 });
  });

  it('answers 400 with a one-line reason for a body that is not JSON, and records nothing', async () => {
    const res = await send(rx.url, '{"resourceSpans": [');
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/json');
    const msg = JSON.parse(res.body);
    assert.equal(msg.code, 3);
    assert.match(msg.message, /^body is not valid JSON: \S/);
    assert.doesNotMatch(msg.message, /\n/);
    assert.equal(readFileSync(record, 'utf8'), '');
    assert.deepEqual(rx.stats(), { payloads: 0, spans: 0, rejected: 1 });
    assert.deepEqual(printed, []);
    assert.deepEqual(logged, [`rejected POST /v1/traces: 400 ${msg.message}`]);

    const empty = await send(rx.url, '');
    assert.equal(empty.status, 400);
    assert.equal(empty.body, errorBody('body is empty: expected an ExportTraceServiceRequest JSON object'));

    const notUtf8 = await send(rx.url, Buffer.from([0x7b, 0xff, 0x7d]));
    assert.equal(notUtf8.status, 400);
    assert.equal(notUtf8.body, errorBody('body is not valid UTF-8'));

    const badGzip = await send(rx.url, 'not gzip at all', { headers: { 'Content-Encoding': 'gzip' } });
    assert.equal(badGzip.status, 400);
    assert.equal(badGzip.body, errorBody('body is not valid gzip: incorrect header check'));
  });

  const SPAN1 = 'resourceSpans[0].scopeSpans[0].spans[1]';
  const violations: [string, (d: any) => void, string][] = [
    [
      'a span id of the wrong length',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].spanId = 'abc'),
      `${SPAN1}.spanId: expected 16 hex characters, got "abc"`,
    ],
    [
      'a trace id of the wrong length',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].traceId = '7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4'),
      `${SPAN1}.traceId: expected 32 hex characters, got "7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4"`,
    ],
    [
      'an unknown field',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].parentId = '26f5ac09e3264afb'),
      `${SPAN1}.parentId: unknown field in Span`,
    ],
    [
      'a field name in the wrong case',
      (d) => (d.resourceSpans[0].resource.attributes[0].Value = d.resourceSpans[0].resource.attributes[0].value),
      'resourceSpans[0].resource.attributes[0].Value: unknown field in KeyValue (did you mean "value"?)',
    ],
    [
      'kind as a string of digits',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].kind = '5'),
      `${SPAN1}.kind: expected a SpanKind as an integer 0..5 or a name like "SPAN_KIND_INTERNAL", got "5"`,
    ],
    [
      'kind out of range',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].kind = 6),
      `${SPAN1}.kind: expected a SpanKind as an integer 0..5 or a name like "SPAN_KIND_INTERNAL", got 6`,
    ],
    [
      'intValue not an integer string',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.intValue = '1.5'),
      `${SPAN1}.attributes[0].value.intValue: expected an int64 as a decimal string or a JSON integer, got "1.5"`,
    ],
    [
      'intValue a fractional JSON number',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.intValue = 1.5),
      `${SPAN1}.attributes[0].value.intValue: expected an int64 as a decimal string or a JSON integer, got 1.5`,
    ],
    [
      'a status code out of range',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].status.code = 3),
      'resourceSpans[0].scopeSpans[0].spans[0].status.code: ' +
        'expected a StatusCode as an integer 0..2 or a name like "STATUS_CODE_OK", got 3',
    ],
    [
      'an all-zero span id',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].spanId = '0000000000000000'),
      `${SPAN1}.spanId: must not be all zeros (an invalid span id)`,
    ],
    [
      'a missing trace id',
      (d) => delete d.resourceSpans[0].scopeSpans[0].spans[1].traceId,
      `${SPAN1}.traceId: missing (a span needs a trace id)`,
    ],
    [
      'an AnyValue with two values',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[1].value.stringValue = 'false'),
      `${SPAN1}.attributes[1].value: AnyValue must hold at most one value, got "boolValue" and "stringValue"`,
    ],
    [
      'an end before the start',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].endTimeUnixNano = '1795500582257999999'),
      `${SPAN1}.endTimeUnixNano: ends before it starts (1795500582257999999 < 1795500582258000000)`,
    ],
    [
      'spans that is not an array',
      (d) => (d.resourceSpans[0].scopeSpans[0].spans = {}),
      'resourceSpans[0].scopeSpans[0].spans: expected an array, got an object',
    ],
  ];

  for (const [what, mutate, reason] of violations) {
    it(`answers 400 naming the path for ${what}`, async () => {
      const doc = samplePayload();
      mutate(doc);
      const res = await send(rx.url, JSON.stringify(doc));
      assert.equal(res.status, 400);
      assert.equal(res.body, errorBody(reason));
      assert.equal(readFileSync(record, 'utf8'), '');
      assert.deepEqual(printed, []);
      assert.deepEqual(logged, [`rejected POST /v1/traces: 400 ${reason}`]);
    });
  }

  it('answers 404 for other paths, 405 for other methods, 415 for protobuf and other types', async () => {
    const body = JSON.stringify(samplePayload());
    const notFound = await send(rx.url, body, { path: '/v1/metrics' });
    assert.equal(notFound.status, 404);
    assert.equal(
      notFound.body,
      JSON.stringify({ code: 5, message: 'no such path /v1/metrics: send OTLP traces to POST /v1/traces' }),
    );
    assert.equal((await send(rx.url, '', { method: 'GET', path: '/' })).status, 404);

    const wrongMethod = await send(rx.url, '', { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, 'POST');
    assert.equal(
      wrongMethod.body,
      JSON.stringify({ code: 12, message: 'method GET is not allowed on /v1/traces: use POST' }),
    );
    assert.equal((await send(rx.url, body, { method: 'PUT' })).status, 405);

    const proto = await send(rx.url, Buffer.from([0x0a, 0x00]), {
      headers: { 'Content-Type': 'application/x-protobuf' },
    });
    assert.equal(proto.status, 415);
    assert.equal(
      proto.body,
      errorBody(
        'Content-Type application/x-protobuf is not supported: ' +
          'this receiver takes OTLP/HTTP JSON only (application/json)',
      ),
    );
    const text = await send(rx.url, body, { headers: { 'Content-Type': 'text/plain' } });
    assert.equal(text.status, 415);
    assert.equal(
      text.body,
      errorBody('Content-Type text/plain is not supported: send OTLP/HTTP JSON as application/json'),
    );
    const latin1 = await send(rx.url, body, { headers: { 'Content-Type': 'application/json; charset=latin1' } });
    assert.equal(latin1.status, 415);
    const br = await send(rx.url, body, { headers: { 'Content-Encoding': 'br' } });
    assert.equal(br.status, 415);
    assert.equal(br.body, errorBody('Content-Encoding br is not supported: use gzip or none'));

    assert.equal(readFileSync(record, 'utf8'), '');
    assert.deepEqual(rx.stats(), { payloads: 0, spans: 0, rejected: 8 });
    assert.equal(logged.length, 8);
    assert.equal(
      logged[0],
      'rejected POST /v1/metrics: 404 no such path /v1/metrics: send OTLP traces to POST /v1/traces',
    );
  });

  it('answers 413 for a body over the cap, on the wire or decompressed', async () => {
    const big = JSON.stringify({ resourceSpans: [], pad: 'x'.repeat(70 * 1024) });
    const res = await send(rx.url, big);
    assert.equal(res.status, 413);
    assert.equal(
      res.body,
      JSON.stringify({ code: 8, message: `body of ${big.length} bytes is over the 65536-byte limit` }),
    );

    // 200 KiB of JSON compresses to well under the 64 KiB wire cap but is over 128 KiB
    const bomb = gzipSync(JSON.stringify({ resourceSpans: [{ schemaUrl: ' '.repeat(200 * 1024) }] }));
    assert.ok(bomb.length < 64 * 1024);
    const res2 = await send(rx.url, bomb, { headers: { 'Content-Encoding': 'gzip' } });
    assert.equal(res2.status, 413);
    assert.equal(
      res2.body,
      JSON.stringify({ code: 8, message: 'body decompresses to over the 131072-byte limit' }),
    );
    assert.deepEqual(rx.stats(), { payloads: 0, spans: 0, rejected: 2 });
  });

  it('close() resolves with a keep-alive connection open, and stops listening', async () => {
    const agent = new Agent({ keepAlive: true });
    try {
      const res = await send(rx.url, JSON.stringify(samplePayload()), { agent });
      assert.equal(res.status, 200);
      await rx.close();
      await assert.rejects(send(rx.url, '{}'), { code: 'ECONNREFUSED' });
      await rx.close(); // idempotent
    } finally {
      agent.destroy();
    }
  });

  it('reports a port in use and an unwritable record file as one clear error', async () => {
    await assert.rejects(startReceiver({ port: rx.port, print: () => {} }), {
      message: `port ${rx.port} on 127.0.0.1 is already in use`,
      code: 'EADDRINUSE',
    });
    const missingDir = join(dir, 'no-such-dir', 'out.ndjson');
    await assert.rejects(startReceiver({ port: 0, record: missingDir }), {
      message: `cannot open ${missingDir} for recording: ENOENT: no such file or directory, open '${missingDir}'`,
    });
  });
});

describe('receiver defaults', () => {
  it('listens on 127.0.0.1:4318 unless told otherwise', async (t) => {
    let rx: Receiver;
    try {
      rx = await startReceiver({ print: () => {}, log: () => {} });
    } catch (err) {
      if ((err as { code?: string }).code === 'EADDRINUSE') return t.skip('port 4318 is busy here');
      throw err;
    }
    try {
      assert.equal(rx.url, 'http://127.0.0.1:4318/v1/traces');
      assert.equal(rx.port, 4318);
    } finally {
      await rx.close();
    }
  });
});

describe('validateExportRequest', () => {
  it('accepts the payloads the OpenTelemetry JS SDK sent (fixtures/otel-js-sdk.ndjson)', () => {
    const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.deepEqual(validateExportRequest(JSON.parse(line)), { ok: true, spans: 1 });
  });

  it('accepts what proto3 JSON allows: snake_case names, enum names, numbers, nulls, upper-case ids', () => {
    assert.deepEqual(validateExportRequest(samplePayload()), { ok: true, spans: 2 });
    assert.deepEqual(validateExportRequest({}), { ok: true, spans: 0 });
    const doc = {
      resource_spans: [
        {
          resource: {
            attributes: [],
            dropped_attributes_count: '0',
            entity_refs: [{ type: 'service', id_keys: ['service.name'] }],
          },
          schema_url: 'https://opentelemetry.io/schemas/1.26.0',
          scope_spans: [
            {
              scope: null,
              spans: [
                {
                  trace_id: '5B8EFFF798038103D269B633813FC60C',
                  span_id: 'EEE19B7EC3C1B174',
                  parent_span_id: '',
                  trace_state: 'k=v',
                  name: 'x',
                  kind: 'SPAN_KIND_CLIENT',
                  start_time_unix_nano: 1544712660000000000,
                  end_time_unix_nano: '1544712661000000000',
                  flags: '1',
                  attributes: [
                    { key: 'empty', value: {} },
                    { key: 'nan', value: { double_value: 'NaN' } },
                    { key: 'neg', value: { int_value: '-9223372036854775808' } },
                    { key: 'url-safe', value: { bytes_value: '-_8' } },
                  ],
                  events: [{ time_unix_nano: '1544712660500000000', name: 'e', dropped_attributes_count: 1 }],
                  links: [{ trace_id: '5b8efff798038103d269b633813fc60c', span_id: 'eee19b7ec3c1b173', flags: 256 }],
                  status: { code: 'STATUS_CODE_ERROR', message: 'm' },
                  dropped_links_count: 0,
                },
              ],
            },
          ],
        },
      ],
    };
    assert.deepEqual(validateExportRequest(doc), { ok: true, spans: 1 });
  });

  it('rejects subtle errors with the exact path', () => {
    const cases: [(d: any) => void, string][] = [
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].parentSpanId = '1a2b3c4d5e6f708'),
        `resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: ` +
          `expected 16 hex characters (or "" for a root span), got "1a2b3c4d5e6f708"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].spanId = '26f5ac09e3264afg'),
        `resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex characters, got "26f5ac09e3264afg"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].kind = 'SERVER'),
        `resourceSpans[0].scopeSpans[0].spans[0].kind: ` +
          `expected a SpanKind as an integer 0..5 or a name like "SPAN_KIND_INTERNAL", got "SERVER"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].status.code = 'OK'),
        `resourceSpans[0].scopeSpans[0].spans[0].status.code: ` +
          `expected a StatusCode as an integer 0..2 or a name like "STATUS_CODE_OK", got "OK"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].flags = 2 ** 32),
        `resourceSpans[0].scopeSpans[0].spans[0].flags: ` +
          `expected a non-negative 32-bit integer as a JSON integer or a decimal string, got 4294967296`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].droppedAttributesCount = -1),
        `resourceSpans[0].scopeSpans[0].spans[0].droppedAttributesCount: ` +
          `expected a non-negative 32-bit integer as a JSON integer or a decimal string, got -1`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano = '1.7955e18'),
        `resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: ` +
          `expected an unsigned 64-bit integer as a decimal string or a JSON integer, got "1.7955e18"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano = '0'),
        `resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: must not be 0 (a span needs a start time)`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].events[0].timeUnixNano = '-1'),
        `resourceSpans[0].scopeSpans[0].spans[1].events[0].timeUnixNano: ` +
          `expected an unsigned 64-bit integer as a decimal string or a JSON integer, got "-1"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.intValue = '9223372036854775808'),
        `resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.intValue: ` +
          `expected an int64 as a decimal string or a JSON integer, got "9223372036854775808"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[5].value.bytesValue = 'AAE!'),
        `resourceSpans[0].scopeSpans[0].spans[1].attributes[5].value.bytesValue: expected base64 bytes, got "AAE!"`,
      ],
      [
        (d) =>
          (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[3].value.arrayValue.values[1] = {
            intValue: '7',
            boolValue: true,
          }),
        `resourceSpans[0].scopeSpans[0].spans[1].attributes[3].value.arrayValue.values[1]: ` +
          `AnyValue must hold at most one value, got "intValue" and "boolValue"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[4].value.kvlistValue.values[0] = { queue: 'log' }),
        `resourceSpans[0].scopeSpans[0].spans[1].attributes[4].value.kvlistValue.values[0].queue: ` +
          `unknown field in KeyValue`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[1].attributes[2].key = 'process.success'),
        `resourceSpans[0].scopeSpans[0].spans[1].attributes[2].key: ` +
          `duplicate key "process.success" (also at attributes[1])`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].name = 'bad \ud800 name'),
        `resourceSpans[0].scopeSpans[0].spans[0].name: ` +
          `string has a lone UTF-16 surrogate U+D800 at index 4, which is not valid UTF-8`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].scope.version = 1),
        `resourceSpans[0].scopeSpans[0].scope.version: expected a string, got 1`,
      ],
      [
        (d) => (d.resourceSpans[0].resource.attributes[0].value = { stringValue: 5 }),
        `resourceSpans[0].resource.attributes[0].value.stringValue: expected a string, got 5`,
      ],
      [
        (d) =>
          (d.resourceSpans[0].scopeSpans[0].spans[0].links = [
            { traceId: '7b1e2d3c4a5f4e6d8c7b9a0f1e2d3c4b', spanId: '0000000000000000' },
          ]),
        `resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: must not be all zeros (an invalid span id)`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].trace_id = d.resourceSpans[0].scopeSpans[0].spans[0].traceId),
        `resourceSpans[0].scopeSpans[0].spans[0].trace_id: field given twice, as "traceId" and "trace_id"`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0] = null),
        `resourceSpans[0].scopeSpans[0].spans[0]: expected an object (Span), got null`,
      ],
      [
        (d) => (d.resourceSpans[0].instrumentationLibrarySpans = []),
        `resourceSpans[0].instrumentationLibrarySpans: unknown field in ResourceSpans`,
      ],
      [
        (d) => (d.resourceSpans[0].scopeSpans[0].spans[0].status.deprecatedCode = 0),
        `resourceSpans[0].scopeSpans[0].spans[0].status.deprecatedCode: unknown field in Status`,
      ],
      [
        (d) => (d['resource spans'] = []),
        `request body["resource spans"]: unknown field in ExportTraceServiceRequest`,
      ],
    ];
    for (const [mutate, reason] of cases) {
      const doc = samplePayload();
      mutate(doc);
      assert.deepEqual(validateExportRequest(doc), { ok: false, reason });
    }
    assert.deepEqual(validateExportRequest([]), {
      ok: false,
      reason: 'request body: expected a JSON object (ExportTraceServiceRequest), got an array',
    });
    assert.deepEqual(validateExportRequest('x'.repeat(50)), {
      ok: false,
      reason: `request body: expected a JSON object (ExportTraceServiceRequest), got "${'x'.repeat(40)}…"`,
    });
  });

  it('stops at a nesting depth a protobuf parser would refuse, without overflowing the stack', () => {
    let value: any = { stringValue: 'leaf' };
    for (let i = 0; i < 10_000; i++) value = { arrayValue: { values: [value] } };
    const doc = samplePayload();
    doc.resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value = value;
    const result = validateExportRequest(doc);
    assert.equal(result.ok, false);
    assert.match((result as { reason: string }).reason, /: nested deeper than 100 levels$/);
  });
});

// issue 13 item 13: the receiver is local, but a big or hostile sender must not make it fall over.
describe('receiver limits', () => {
  const RECEIVER = fileURLToPath(new URL('../../lib/cli/receiver.ts', import.meta.url));

  /** A raw TCP client: what the server wrote, and when it closed (ms after connecting), or null. */
  function rawClient(port: number): { socket: Socket; received: () => string; closedAfter: Promise<number> } {
    const socket = connect(port, '127.0.0.1');
    const started = performance.now();
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => {});
    const closedAfter = new Promise<number>((resolve) => {
      socket.on('close', () => resolve(performance.now() - started));
    });
    return { socket, received: () => data, closedAfter };
  }

  const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([
      promise,
      new Promise<T>((_, reject) => {
        setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref();
      }),
    ]);

  it('keeps no payload: 40 posts of 1.4 MB do not grow the heap (measured after gc in a child)', async () => {
    const script = `
      import { startReceiver } from ${JSON.stringify(RECEIVER)};
      import { request, Agent } from 'node:http';
      const spans = [];
      for (let i = 0; i < 2000; i++) spans.push({
        traceId: (i % 100 + 1).toString(16).padStart(32, '0'), spanId: (i + 1).toString(16).padStart(16, '0'),
        name: 'tracker.log_request', kind: 2, startTimeUnixNano: '1795500582256000000',
        endTimeUnixNano: '1795500582257000000',
        attributes: [{ key: 'request.data', value: { stringValue: 'x'.repeat(450) } }],
      });
      const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
      const rx = await startReceiver({ port: 0, print: () => {}, log: () => {} });
      const agent = new Agent({ keepAlive: true });
      const post = () => new Promise((resolve, reject) => {
        const options = { method: 'POST', agent, headers: { 'content-type': 'application/json' } };
        const req = request(rx.url, options, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode))));
        });
        req.on('error', reject);
        req.end(body);
      });
      const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
      for (let i = 0; i < 3; i++) await post();
      const before = heap();
      for (let i = 0; i < 40; i++) await post();
      const after = heap();
      agent.destroy();
      await rx.close();
      console.log(JSON.stringify({ bytes: body.length, grown: after - before }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
        { timeout: 120_000, maxBuffer: 1024 * 1024 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const { bytes, grown } = JSON.parse(out) as { bytes: number; grown: number };
    assert.ok(bytes > 1_300_000 && bytes < 1_500_000, `payload of ${bytes} bytes`);
    // Kept payloads would be 40 parsed documents of 1.4 MB of JSON each: over 50 MB.
    assert.ok(grown < 8 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB over 40 posts`);
  });

  it('answers 413 at once for a declared body over the default cap, without waiting for the body', async () => {
    const rx = await startReceiver({ port: 0, print: () => {}, log: () => {} });
    try {
      const client = rawClient(rx.port);
      const started = performance.now();
      client.socket.write(
        'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{',
      );
      await within(
        new Promise<void>((resolve) => {
          client.socket.on('data', () => client.received().includes('\r\n\r\n') && resolve());
        }),
        2000,
        'a 413 answer',
      );
      assert.ok(performance.now() - started < 1000, 'answered within a second');
      assert.match(client.received(), /^HTTP\/1\.1 413 /);
      assert.match(client.received(), /\r\nConnection: close\r\n/i);
      client.socket.destroy();
      assert.deepEqual(rx.stats(), { payloads: 0, spans: 0, rejected: 1 });
    } finally {
      await rx.close();
    }
  });

  it('answers 503 (retry later) past the bound on concurrent requests, and serves again once one ends', async () => {
    const logged: string[] = [];
    const rx = await startReceiver({
      port: 0,
      print: () => {},
      log: (line) => logged.push(line),
      maxConcurrentRequests: 2,
    });
    const busy = 'busy: 2 requests in progress, the most this receiver takes at once';
    try {
      const head = 'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n';
      const slow = [rawClient(rx.port), rawClient(rx.port)];
      for (const client of slow) client.socket.write(head); // bodies held back: both requests stay in progress
      await new Promise((resolve) => setTimeout(resolve, 100));
      const third = await send(rx.url, '{}');
      assert.equal(third.status, 503);
      assert.equal(third.headers['retry-after'], '1');
      assert.equal(third.body, JSON.stringify({ code: 14, message: busy }));
      const answered = (client: ReturnType<typeof rawClient>) =>
        new Promise<void>((resolve) => client.socket.on('data', () => client.received().endsWith('{}') && resolve()));
      for (const client of slow) client.socket.write('{}');
      await Promise.all(slow.map((client) => within(answered(client), 2000, 'the held requests to be answered')));
      for (const client of slow) {
        assert.match(client.received(), /^HTTP\/1\.1 200 /);
        client.socket.destroy();
      }
      assert.equal((await send(rx.url, '{}')).status, 200);
      assert.deepEqual(rx.stats(), { payloads: 3, spans: 0, rejected: 1 });
      assert.deepEqual(logged, [`rejected POST /v1/traces: 503 ${busy}`]);
    } finally {
      await rx.close();
    }
  });

  it('a log callback that throws drops that request, and nothing rejects unhandled', { timeout: 10_000 }, async () => {
    const unhandled: unknown[] = [];
    const record = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', record);
    const rx = await startReceiver({
      port: 0,
      print: () => {},
      log: () => {
        throw new Error('log sink down');
      },
    });
    try {
      await assert.rejects(send(rx.url, 'not json'), { code: 'ECONNRESET' });
      assert.equal((await send(rx.url, '{}')).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', record);
      await rx.close();
    }
  });

  it('closes a connection that sends its headers too slowly (slow loris), or its body', async () => {
    const rx = await startReceiver({
      port: 0,
      print: () => {},
      log: () => {},
      headersTimeoutMillis: 300,
      requestTimeoutMillis: 600,
    });
    try {
      const loris = rawClient(rx.port);
      loris.socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => loris.socket.writable && loris.socket.write('X-Drip: 1\r\n'), 50);
      try {
        const closed = await within(loris.closedAfter, 3000, 'the slow-headers connection to be closed');
        assert.ok(closed >= 250, `closed after ${closed} ms`);
        assert.match(loris.received(), /^(HTTP\/1\.1 408 |$)/);
      } finally {
        clearInterval(drip);
      }

      const slowBody = rawClient(rx.port);
      slowBody.socket.write(
        'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
      );
      const bodyDrip = setInterval(() => slowBody.socket.writable && slowBody.socket.write(' '), 50);
      try {
        const closed = await within(slowBody.closedAfter, 3000, 'the slow-body connection to be closed');
        assert.ok(closed >= 550, `closed after ${closed} ms`);
      } finally {
        clearInterval(bodyDrip);
      }
    } finally {
      await rx.close();
    }
  });
});
