// The HTTP/1.1 response reader on its own: the same answer however the bytes are split, one
// overall cap, work linear in the bytes received, and strictness where RFC 9112 asks for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_READ_BYTES, ResponseReader, type Answer } from '../../lib/platform/node/response-reader.ts';
import { MAX_RESPONSE_BYTES } from '../../lib/platform/transport.ts';

/** Feeds `text` in packets of `size` bytes; the first outcome, or what end() gives. */
function read(text: string | Buffer, size: number): Answer | string | undefined {
  const bytes = Buffer.from(text);
  const reader = new ResponseReader();
  for (let at = 0; at < bytes.length; at += size) {
    const outcome = reader.feed(Buffer.from(bytes.subarray(at, at + size)));
    if (outcome !== undefined) return outcome;
  }
  return reader.end();
}

const OK = 'HTTP/1.1 200 OK\r\n';
const body = '{"partialSuccess":{"rejectedSpans":"3","errorMessage":"quota"}}';
const wellFormed: [string, string, boolean][] = [
  ['Content-Length', `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`, true],
  [
    'a Content-Length list that agrees',
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}, ${body.length}\r\n\r\n${body}`,
    true,
  ],
  [
    'chunked with an extension and trailers, after two 1xx',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9;a=b\r\n${body.slice(0, 9)}\r\n` +
      `${(body.length - 9).toString(16)}\r\n${body.slice(9)}\r\n0\r\nX-T: 1\r\n\r\n`,
    true,
  ],
  ['HTTP/1.0 close-delimited', `HTTP/1.0 200 OK\r\n\r\n${body}`, false],
  ['Connection: close', `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`, false],
];

test('a well-formed answer reads the same whatever the packet size, 1 byte included', () => {
  for (const [what, text, reuse] of wellFormed) {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      const expected = { res: { status: 200, retryAfter: null, body }, reuse };
      assert.deepEqual(read(text, size), expected, `${what}, packets of ${size}`);
    }
  }
});

test('1xx heads without end: one cap for everything read, and linear work even in 1-byte packets', () => {
  const continues = 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(Math.ceil((MAX_READ_BYTES * 2) / 25));
  for (const size of [1, 1460]) {
    const t0 = performance.now();
    const outcome = read(continues, size);
    const took = performance.now() - t0;
    assert.match(String(outcome), /^response too large \(over 262144 bytes without a final answer\)$/);
    // ~262k one-byte packets: a few hundred ms at most when each byte is looked at once.
    assert.ok(took < 3000, `${size}-byte packets: ${took.toFixed(0)} ms`);
  }
});

test('a huge body stops at the cap, its socket not reusable; tiny chunks stop at the overall cap', () => {
  const big = 'x'.repeat(MAX_RESPONSE_BYTES * 3);
  const cut = read(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`, 1460) as Answer;
  assert.deepEqual([cut.res.body.length, cut.reuse], [MAX_RESPONSE_BYTES, false]);
  const tiny = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '1\r\nx\r\n'.repeat(MAX_READ_BYTES / 6 + 10);
  const capped = read(tiny, 1460) as Answer;
  assert.equal(capped.reuse, false);
  assert.ok(capped.res.body.length < MAX_READ_BYTES / 6 + 10);
});

test('strict: ambiguous length, bad framing or a bad status line are errors', () => {
  const errors: [string, RegExp][] = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', /conflicting Content-Length \(2, 3\)/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}', /conflicting Content-Length \(-2\)/],
    [`${OK}Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n`, /Transfer-Encoding with Content-Length/],
    [`${OK}Transfer-Encoding: chunked, gzip\r\n\r\n`, /final transfer coding is not chunked \(chunked, gzip\)/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX', /no CRLF after chunk data/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n', /not a chunk size/],
    ['HTTP/1.1 2000 OK\r\n\r\n', /invalid status line: "HTTP\/1\.1 2000 OK"/],
    ['HTTP/1.1 20x OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 200 OK\r\n folded: no\r\n\r\n', /malformed header line/],
    ['SSH-2.0-OpenSSH\r\n\r\n', /^not HTTP\/1\.x: "SSH-2\.0-OpenSSH"$/],
  ];
  for (const [text, error] of errors) {
    for (const size of [1, 4096]) {
      assert.match(String(read(text, size)), error, `${JSON.stringify(text)} in packets of ${size}`);
    }
  }
});

test('cut short: after the head, the body as far as it got (not reusable); before it, nothing', () => {
  assert.deepEqual(read('HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 100\r\n\r\npart', 3), {
    res: { status: 503, retryAfter: '7', body: 'part' },
    reuse: false,
  });
  assert.equal(read('HTTP/1.1 200 O', 3), undefined);
});

test('a trailer line without end in 1-byte packets: linear work, then an error', () => {
  const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Long: ';
  const t0 = performance.now();
  assert.equal(read(head + 'y'.repeat(70 * 1024), 1), 'trailers too large');
  const took = performance.now() - t0;
  assert.ok(took < 2000, `${took.toFixed(0)} ms`);
});
