// `ekosis-otlp-traces show FILE` (run in-process through main()) and the tree renderer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../lib/cli/main.js';
import { formatNanos, renderTrees } from '../../lib/cli/tree.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/otel-js-sdk.ndjson', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

const T1 = '3f2a1b4c5d6e4f8091a2b3c4d5e6f708';
const T2 = 'aaaabbbbccccdddd0000111122223333';
const BASE = 1_000_000_000_000_000_000n;
const ns = (offset: number) => String(BASE + BigInt(offset));
const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
const service = (name: string) => ({ attributes: [str('service.name', name)] });

// line 1: this package's style (ints as strings, defaults omitted); two resources
const line1 = {
  resourceSpans: [
    {
      resource: service('tracker-0'),
      scopeSpans: [
        {
          scope: { name: 'ekosis-otlp-traces', version: '0.1.0' },
          spans: [
            {
              traceId: T1,
              spanId: '9a11a39bb8366555',
              parentSpanId: '9c7e5a3b1d0f2e4c',
              flags: 769,
              name: 'tracker.log_request_fail',
              kind: 2,
              startTimeUnixNano: ns(0),
              endTimeUnixNano: ns(3_655_140),
              attributes: [str('request.route_key', 'tracker.log_request_fail')],
              status: { code: 1 },
            },
          ],
        },
      ],
    },
    {
      resource: service('router-1'),
      scopeSpans: [
        {
          spans: [
            {
              traceId: T2,
              spanId: 'abcdefabcdef0001',
              parentSpanId: '1234567812345678',
              flags: 257, // the parent is known to be local: a span that was not recorded
              name: 'router.forward',
              kind: 3,
              startTimeUnixNano: String(BASE - 1_000_000_000n),
              endTimeUnixNano: String(BASE + 500_000_000n),
              attributes: [str('net.peer.name', 'tracker')],
              droppedAttributesCount: 2,
              links: [{ traceId: T1, spanId: '9a11a39bb8366555', attributes: [str('link.kind', 'follows')] }],
            },
          ],
        },
      ],
    },
  ],
};

// line 3: snake_case names, upper-case ids, enum names, ints as JSON numbers, out of order
const line3 = {
  resource_spans: [
    {
      resource: service('tracker-0'),
      scope_spans: [
        {
          spans: [
            {
              trace_id: T1.toUpperCase(),
              span_id: '4FB5F737A8E2537D',
              parent_span_id: '9A11A39BB8366555',
              name: 'LogRequestFailDTO.process',
              kind: 'SPAN_KIND_CONSUMER',
              start_time_unix_nano: Number(ns(6_000_000)),
              end_time_unix_nano: ns(8_615_312),
              attributes: [{ key: 'request.retries', value: { int_value: 1 } }],
              status: { code: 'STATUS_CODE_OK' },
            },
            {
              trace_id: T1,
              span_id: '8d9cb290599b666e',
              parent_span_id: '9a11a39bb8366555',
              name: 'LogRequestFailDTO.process',
              kind: 5,
              start_time_unix_nano: ns(4_000_000),
              end_time_unix_nano: ns(6_382_601),
              attributes: [{ key: 'request.retries', value: { int_value: 0 } }],
              status: { code: 'STATUS_CODE_ERROR', message: 'process attempt failed' },
            },
            {
              trace_id: T1,
              span_id: '1111111111111111',
              parent_span_id: '8d9cb290599b666e',
              name: 'store.write',
              kind: 1,
              start_time_unix_nano: ns(4_500_000),
              end_time_unix_nano: ns(4_501_500),
            },
          ],
        },
      ],
    },
  ],
};

// line 4: the OpenTelemetry JS SDK's style: zero-valued fields present, no service.name
const line4 = {
  resourceSpans: [
    {
      resource: { attributes: [], droppedAttributesCount: 0 },
      scopeSpans: [
        {
          scope: { name: 'queue' },
          spans: [
            {
              traceId: T2,
              spanId: 'abcdefabcdef0002',
              parentSpanId: 'abcdefabcdef0001',
              name: 'queue.publish',
              kind: 4,
              startTimeUnixNano: String(BASE - 500_000_000n),
              endTimeUnixNano: String(BASE - 499_250_000n),
              attributes: [],
              droppedAttributesCount: 0,
              events: [
                {
                  timeUnixNano: String(BASE - 499_750_000n),
                  name: 'enqueued',
                  attributes: [],
                  droppedAttributesCount: 0,
                },
              ],
              droppedEventsCount: 0,
              status: { code: 0 },
              links: [],
              droppedLinksCount: 0,
              flags: 0,
            },
          ],
        },
      ],
    },
  ],
};

const EXPECTED = `trace aaaabbbbccccdddd0000111122223333
└─ router.forward  [router-1]  CLIENT  1.500 s  (parent 1234567812345678 not recorded)
     net.peer.name = "tracker"
     link to trace 3f2a1b4c5d6e4f8091a2b3c4d5e6f708 span 9a11a39bb8366555: link.kind="follows"
     (dropped: 2 attributes)
   └─ queue.publish  [unknown_service]  PRODUCER  0.750 ms
        event enqueued at +0.250 ms

trace 3f2a1b4c5d6e4f8091a2b3c4d5e6f708
└─ tracker.log_request_fail  [tracker-0]  SERVER  3.655 ms  OK  ↑ remote parent 9c7e5a3b1d0f2e4c
     request.route_key = "tracker.log_request_fail"
   ├─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.383 ms  ERROR: process attempt failed
   │    request.retries = 0
   │  └─ store.write  [tracker-0]  INTERNAL  0.002 ms
   └─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.615 ms  OK
        request.retries = 1
`;

const FIXTURE_EXPECTED = `trace c0ffee00d15e4a5eb0a7f00d5eed1e55
└─ tracker.log_request_fail  [tracker-0]  SERVER  1.250 ms  OK  ↑ remote parent 5ca1ab1e0ddba11f
     request.trace_id      = "c0ffee00-d15e-4a5e-b0a7-f00d5eed1e55"
     request.span_id       = "5ca1ab1e0ddba11f"
     request.route_key     = "tracker.log_request_fail"
     tracker.payload_bytes = 512
     tracker.sample_ratio  = 0.25
     tracker.tags          = ["buffered", "retry"]
   ├─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.500 ms  ERROR: process attempt failed
   │    request.trace_id = "c0ffee00-d15e-4a5e-b0a7-f00d5eed1e55"
   │    request.span_id  = "5ca1ab1e0ddba11f"
   │    request.retries  = 0
   │    process.success  = false
   │    event exception at +1.100 ms: exception.type="TimeoutError" ` +
  `exception.message="tracker store timed out after 2 ms" ` +
  `exception.stacktrace="TimeoutError: tracker store timed out after 2 ms" (+2 lines)
   └─ LogRequestFailDTO.process  [tracker-0]  CONSUMER  2.750 ms  OK
        request.trace_id = "c0ffee00-d15e-4a5e-b0a7-f00d5eed1e55"
        request.span_id  = "5ca1ab1e0ddba11f"
        request.retries  = 1
        process.success  = true
`;

describe('show FILE', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekosis-show-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('prints every trace of a recorded file as a tree, gathering spans from all lines', async () => {
    const path = file(
      'recorded.ndjson',
      [JSON.stringify(line1), '', JSON.stringify(line3), JSON.stringify(line4), '   ', ''].join('\n'),
    );
    assert.deepEqual(await run(['show', path]), { code: 0, stdout: EXPECTED, stderr: '' });
    // the order of the lines does not matter, nor do CRLF line ends
    const reversed = file('reversed.ndjson', [line4, line3, line1].map((l) => JSON.stringify(l)).join('\r\n'));
    assert.deepEqual(await run(['show', reversed]), { code: 0, stdout: EXPECTED, stderr: '' });
  });

  it('prints the recording made from the OpenTelemetry JS SDK', async () => {
    assert.deepEqual(await run(['show', FIXTURE]), { code: 0, stdout: FIXTURE_EXPECTED, stderr: '' });
  });

  it('stops at a line that is not JSON: exit 1 and "FILE line N"', async () => {
    const path = file(
      'bad-json.ndjson',
      `${JSON.stringify(line1)}\n\n{"resourceSpans": [}\n${JSON.stringify(line4)}\n`,
    );
    const { code, stdout, stderr } = await run(['show', path]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^${escape(path)} line 3: not valid JSON: \\S[^\\n]*\\n$`));
  });

  it('stops at a line that breaks the OTLP schema: exit 1 with the path in the payload', async () => {
    const bad = structuredClone(line4) as any;
    bad.resourceSpans[0].scopeSpans[0].spans[0].kind = 'PRODUCER';
    const path = file('bad-schema.ndjson', `${JSON.stringify(line1)}\n${JSON.stringify(bad)}\n`);
    assert.deepEqual(await run(['show', path]), {
      code: 1,
      stdout: '',
      stderr:
        `${path} line 2: resourceSpans[0].scopeSpans[0].spans[0].kind: ` +
        'expected a SpanKind as an integer 0..5 or a name like "SPAN_KIND_INTERNAL", got "PRODUCER"\n',
    });
  });

  it('says so when the file cannot be read: exit 1', async () => {
    const missing = join(dir, 'missing.ndjson');
    assert.deepEqual(await run(['show', missing]), {
      code: 1,
      stdout: '',
      stderr: `cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'\n`,
    });
    const { code, stderr } = await run(['show', dir]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`^cannot read ${escape(dir)}: EISDIR`));
  });

  it('says so when there is nothing to show', async () => {
    const path = file('empty.ndjson', '\n{}\n{"resourceSpans":[]}\n');
    assert.deepEqual(await run(['show', path]), { code: 0, stdout: `no spans in ${path}\n`, stderr: '' });
  });

  it('is a usage error (exit 2) without exactly one FILE', async () => {
    assert.deepEqual(await run(['show']), {
      code: 2,
      stdout: '',
      stderr: 'ekosis-otlp-traces: show needs a FILE (see ekosis-otlp-traces show --help)\n',
    });
    assert.equal((await run(['show', 'a', 'b'])).code, 2);
    assert.equal((await run(['show', '--port', '1', FIXTURE])).code, 2);
  });

  it('colours only when asked', async () => {
    const plain = await run(['show', FIXTURE]);
    assert.doesNotMatch(plain.stdout, /\x1b\[/);
    const colored = await run(['show', '--color', FIXTURE]);
    assert.match(colored.stdout, /\x1b\[1;31mERROR: process attempt failed\x1b\[0m/);
    assert.equal(colored.stdout.replace(/\x1b\[[0-9;]*m/g, ''), FIXTURE_EXPECTED);
  });
});

describe('renderTrees', () => {
  const span = (spanId: string, parentSpanId: string, start: number, extra: object = {}) => ({
    traceId: T1,
    spanId,
    parentSpanId,
    name: `s${spanId.slice(-1)}`,
    kind: 1,
    startTimeUnixNano: ns(start),
    endTimeUnixNano: ns(start + 1000),
    ...extra,
  });
  const payload = (...spans: object[]) => ({ resourceSpans: [{ scopeSpans: [{ spans }] }] });

  it('returns "" when there are no spans, and skips what is not a payload', () => {
    assert.equal(renderTrees([]), '');
    assert.equal(renderTrees([null, 7, 'x', [], {}, { resourceSpans: 'no' }]), '');
    assert.equal(renderTrees([payload({ traceId: 'nothex', spanId: '1' })]), '');
  });

  it('shows spans in a parent cycle, duplicates and a span that is its own parent, without looping', () => {
    const text = renderTrees([
      payload(
        span('0000000000000001', '0000000000000002', 0),
        span('0000000000000002', '0000000000000001', 10),
        span('0000000000000003', '0000000000000003', 20),
        span('0000000000000004', '', 30, { status: { code: 0, message: 'why' } }),
        span('0000000000000004', '', 40),
      ),
    ]);
    assert.equal(
      text,
      `trace ${T1}
├─ s1  [unknown_service]  INTERNAL  0.001 ms  (in a parent cycle via 0000000000000002)
│  └─ s2  [unknown_service]  INTERNAL  0.001 ms
├─ s3  [unknown_service]  INTERNAL  0.001 ms  (its own parent)
├─ s4  [unknown_service]  INTERNAL  0.001 ms  UNSET: why
└─ s4  [unknown_service]  INTERNAL  0.001 ms  (duplicate span id)
`,
    );
  });

  // A hostile or broken sender's chain: recursion overflowed the stack near 5 000 levels, and an
  // indent per level made the text grow with the square of the depth (3 000 levels: 28 MB).
  it('prints a 20 000-level chain without overflowing the stack, indenting at most 32 levels', () => {
    const id = (i: number) => (i + 1).toString(16).padStart(16, '0');
    const chain = Array.from({ length: 20_000 }, (_, i) => span(id(i), i ? id(i - 1) : '', i));
    const lines = renderTrees([payload(...chain)]).trimEnd().split('\n');
    assert.equal(lines.length, 1 + 20_000);
    assert.equal(lines[1], '└─ s1  [unknown_service]  INTERNAL  0.001 ms');
    assert.equal(lines[32], `${'   '.repeat(31)}└─ s0  [unknown_service]  INTERNAL  0.001 ms`);
    assert.equal(lines[33], `${'   '.repeat(32)}└─ s1  [unknown_service]  INTERNAL  0.001 ms  (level 33)`);
    assert.equal(lines[34], `${'   '.repeat(32)}└─ s2  [unknown_service]  INTERNAL  0.001 ms  (level 34)`);
    assert.equal(lines[20_000], `${'   '.repeat(32)}└─ s0  [unknown_service]  INTERNAL  0.001 ms  (level 20000)`);
    assert.ok(lines.every((line) => line.length < 160));
  });

  it('marks a missing parent as remote only when the flags say so', () => {
    const text = renderTrees([
      payload(
        span('0000000000000001', 'ffffffffffffffff', 0, { flags: 0x301 }),
        span('0000000000000002', 'eeeeeeeeeeeeeeee', 1, { flags: 0x200 }),
        span('0000000000000003', '0000000000000000', 2, { endTimeUnixNano: '0' }),
      ),
    ]);
    assert.equal(
      text,
      `trace ${T1}
├─ s1  [unknown_service]  INTERNAL  0.001 ms  ↑ remote parent ffffffffffffffff
├─ s2  [unknown_service]  INTERNAL  0.001 ms  (parent eeeeeeeeeeeeeeee not recorded)
└─ s3  [unknown_service]  INTERNAL  not ended
`,
    );
  });

  it('escapes control characters, so a sender can neither break lines nor drive the terminal', () => {
    const text = renderTrees([
      {
        resourceSpans: [
          {
            resource: { attributes: [str('service.name', 's\tx')] },
            scopeSpans: [
              {
                spans: [
                  span('0000000000000001', '', 0, {
                    name: 'evil\n\x1b[31mname\x9b',
                    status: { code: 2, message: 'line1\nline2' },
                    attributes: [str('k\x1b', 'v\x1b\x9b\n')],
                  }),
                ],
              },
            ],
          },
        ],
      },
    ]);
    assert.equal(
      text,
      `trace ${T1}
└─ evil\\n\\u001b[31mname\\u009b  [s\\tx]  INTERNAL  0.001 ms  ERROR: line1\\nline2
     k\\u001b = "v\\u001b\\u009b\\n"
`,
    );
  });

  it('formats durations to the microsecond, rounding half up, in seconds from 1 s on', () => {
    assert.equal(formatNanos(0n), '0.000 ms');
    assert.equal(formatNanos(499n), '0.000 ms');
    assert.equal(formatNanos(500n), '0.001 ms');
    assert.equal(formatNanos(3_655_140n), '3.655 ms');
    assert.equal(formatNanos(2_382_601n), '2.383 ms');
    assert.equal(formatNanos(999_999_499n), '999.999 ms');
    assert.equal(formatNanos(999_999_500n), '1.000 s');
    assert.equal(formatNanos(61_234_567_890n), '61.235 s');
    assert.equal(formatNanos(-1_500n), '-0.002 ms');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
