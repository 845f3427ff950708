// The hand-written HTTP/1.1 client against raw TCP servers on 127.0.0.1 that answer in every
// framing a receiver may use: exact bytes on the wire both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { HttpTransport } from '../../lib/platform/node/transport.ts';
import * as fetchTransport from '../../lib/platform/web/transport.ts';
import { TransportError, MAX_RESPONSE_BYTES } from '../../lib/platform/transport.ts';

interface Raw {
  port: number;
  requests: string[];
  connections: number;
  /** Closes every open connection from the server side; the server keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * A TCP server: collects each request (head + body by Content-Length), answers with `answer(i)`
 * split into `pieces`.
 */
async function rawServer(answer: (i: number) => string | Buffer | null, pieces = 1): Promise<Raw> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined); // the client may cut a socket off
    let acc = Buffer.alloc(0);
    sock.on('data', async (d) => {
      acc = Buffer.concat([acc, d]);
      while (true) {
        const end = acc.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = acc.subarray(0, end).toString('latin1');
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (acc.length < end + 4 + len) return;
        requests.push(acc.subarray(0, end + 4 + len).toString('utf8'));
        acc = acc.subarray(end + 4 + len);
        const out = answer(requests.length - 1);
        if (out === null) {
          sock.destroy();
          return;
        }
        const b = Buffer.from(out);
        const step = Math.ceil(b.length / pieces);
        for (let i = 0; i < b.length; i += step) {
          sock.write(b.subarray(i, i + step));
          if (pieces > 1) await new Promise((r) => setTimeout(r, 2));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    get connections() {
      return connections;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function send(t: { send: HttpTransport['send'] }, port: number, body = '{"resourceSpans":[]}', timeoutMillis = 2000) {
  return t.send({
    url: new URL(`http://127.0.0.1:${port}/v1/traces?x=1`),
    body: Buffer.from(body),
    headers: { 'content-type': 'application/json', authorization: 'Bearer s' },
    timeoutMillis,
    signal: new AbortController().signal,
  });
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

test('the request on the wire: one POST with Content-Length, Host, headers, body', async () => {
  const srv = await rawServer(() => OK);
  const t = new HttpTransport();
  assert.deepEqual(await send(t, srv.port, '{"a":"é"}'), { status: 200, retryAfter: null, body: '{}' });
  assert.equal(
    srv.requests[0],
    `POST /v1/traces?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Length: 10\r\n` +
      'content-type: application/json\r\nauthorization: Bearer s\r\n\r\n{"a":"é"}',
  );
  t.close();
  await srv.close();
});

test('keep-alive: requests share one connection; Connection: close is honoured', async () => {
  const srv = await rawServer((i) => (i === 2 ? OK.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') : OK));
  const t = new HttpTransport();
  for (let i = 0; i < 5; i++) assert.equal((await send(t, srv.port)).status, 200);
  assert.equal(srv.requests.length, 5);
  assert.equal(srv.connections, 2, 'a new connection only after the server said close');
  t.close();
  await srv.close();
});

test('chunked body, split across packets, with partial success inside', async () => {
  const body = '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad"}}';
  const chunked =
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n` +
    `${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
  const srv = await rawServer(() => chunked, 7);
  const t = new HttpTransport();
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body });
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body });
  assert.equal(srv.connections, 1, 'a complete chunked answer leaves the socket reusable');
  t.close();
  await srv.close();
});

test('1xx is skipped; HTTP/1.0 and close-delimited bodies; Retry-After is read', async () => {
  const answers = [
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy',
    'HTTP/1.0 200 OK\r\n\r\n{"x":1}',
  ];
  const srv = await rawServer((i) => answers[i]!);
  const t = new HttpTransport();
  assert.deepEqual(await send(t, srv.port), { status: 503, retryAfter: '7', body: 'busy' });
  // HTTP/1.0 without length: the body runs to the close (the test server closes after writing)
  const p = send(t, srv.port);
  setTimeout(() => void srv.close(), 50);
  assert.deepEqual(await p, { status: 200, retryAfter: null, body: '{"x":1}' });
  t.close();
});

test('a huge body is cut at the cap and the socket dropped', async () => {
  const big = 'x'.repeat(MAX_RESPONSE_BYTES * 3);
  const srv = await rawServer(() => `HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
  const t = new HttpTransport();
  const r = await send(t, srv.port);
  assert.equal(r.status, 200);
  assert.equal(r.body.length, MAX_RESPONSE_BYTES);
  await send(t, srv.port);
  assert.equal(srv.connections, 2, 'the cut-off socket is not reused');
  t.close();
  await srv.close();
});

test('no answer: closed before the status line is a network error; after it, an answer', async () => {
  const srv = await rawServer((i) => (i === 0 ? null : 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
  const t = new HttpTransport();
  await assert.rejects(send(t, srv.port), (e: unknown) => e instanceof TransportError && e.kind === 'network');
  const p = send(t, srv.port);
  setTimeout(() => void srv.close(), 50);
  assert.deepEqual(await p, { status: 200, retryAfter: null, body: 'partial' });
  t.close();
});

test('garbage instead of HTTP is a network error; a silent server a timeout', async () => {
  const junk = await rawServer(() => 'SSH-2.0-OpenSSH\r\n\r\n');
  const t = new HttpTransport();
  const notHttp = /^not HTTP\/1\.x: "SSH-2\.0-OpenSSH"$/;
  await assert.rejects(send(t, junk.port), (e: unknown) => e instanceof TransportError && notHttp.test(e.message));
  await junk.close();
  const silent = await rawServer(() => '');
  const timedOut = (e: unknown) => e instanceof TransportError && e.kind === 'timeout';
  await assert.rejects(send(t, silent.port, '{}', 150), timedOut);
  t.close();
  await silent.close();
});

test('an idle socket the server closed is not reused', async () => {
  const srv = await rawServer(() => OK);
  const t = new HttpTransport();
  assert.equal((await send(t, srv.port)).status, 200);
  srv.dropConnections(); // the server closes the kept-alive socket, as at its keep-alive timeout
  await new Promise((r) => setTimeout(r, 50));
  // Same origin: the closed socket is not taken again, a new connection carries the request.
  assert.equal((await send(t, srv.port)).status, 200);
  assert.equal(srv.requests.length, 2);
  assert.equal(srv.connections, 2);
  t.close();
  await srv.close();
});

test('a reused socket closed before any byte of the answer: retried once at once on a fresh connection', async () => {
  // Request 1 meets a server that closes the kept-alive socket as it arrives (a keep-alive race);
  // request 2 meets that twice: the retry on a fresh connection is closed too, and that one counts.
  const answers = [OK, null, OK, null, null];
  const srv = await rawServer((i) => answers[i]!);
  const t = new HttpTransport();
  assert.equal((await send(t, srv.port)).status, 200);
  const t0 = performance.now();
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body: '{}' });
  assert.ok(performance.now() - t0 < 500, 'retried at once');
  assert.deepEqual([srv.requests.length, srv.connections], [3, 2]);
  await assert.rejects(send(t, srv.port), (e: unknown) => e instanceof TransportError && e.kind === 'network');
  assert.deepEqual([srv.requests.length, srv.connections], [5, 3], 'one retry, not more');
  t.close();
  await srv.close();
});

test('a hostile collector: endless 100 Continue stops at one overall cap per request, quickly', async () => {
  // 100 Continue heads, 64 KB at a time, for as long as the client reads.
  const continues = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(2700));
  let written = 0;
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => {
      const pump = (): void => {
        while (!sock.destroyed && sock.write(continues)) written += continues.length;
        if (!sock.destroyed) sock.once('drain', pump);
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const t = new HttpTransport();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await assert.rejects(
    send(t, port, '{}', 5000),
    (e: unknown) => e instanceof TransportError && e.kind === 'network' && /too large/.test(e.message),
  );
  const took = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  assert.ok(took < 1000, `gave up after ${took.toFixed(0)} ms`);
  assert.ok((cpu.user + cpu.system) / 1000 < 1000, `CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
  t.close();
  await new Promise((r) => server.close(r));
  assert.ok(written < 64 * 1024 * 1024, `the server wrote ${written} bytes before the client left`);
});

test('strict framing (RFC 9112): a malformed answer fails the request and its socket is never reused', async () => {
  const OK_HEAD = 'HTTP/1.1 200 OK\r\n';
  const CHUNKS = '2\r\n{}\r\n0\r\n\r\n';
  const TE_AND_CL = 'Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n';
  const malformed: [string, string][] = [
    ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
    ['a Content-Length list that disagrees', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}'],
    ['Transfer-Encoding and Content-Length', `${OK_HEAD}${TE_AND_CL}${CHUNKS}`],
    ['a final coding other than chunked', `${OK_HEAD}Transfer-Encoding: chunked, gzip\r\n\r\n${CHUNKS}`],
    ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n'],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\n{}'],
  ];
  for (const [what, answer] of malformed) {
    const srv = await rawServer((i) => (i === 0 ? answer : OK));
    const t = new HttpTransport();
    const failed = (e: unknown) => e instanceof TransportError && e.kind === 'network';
    await assert.rejects(send(t, srv.port, '{}', 1000), failed, what);
    assert.equal((await send(t, srv.port)).status, 200, what);
    assert.equal(srv.connections, 2, `${what}: the socket is not reused`);
    t.close();
    await srv.close();
  }
});

test('a well-formed answer in many small packets parses to the same result (chunked, trailers, 1xx)', async () => {
  const body = '{"partialSuccess":{"rejectedSpans":"1"}}';
  const answer =
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-A: 1\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'.replace('gzip, ', '') +
    `5;ext=1\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n` +
    '0\r\nX-Trailer: y\r\n\r\n';
  const srv = await rawServer(() => answer, 40);
  const t = new HttpTransport();
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body });
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body });
  assert.equal(srv.connections, 1, 'a complete answer with trailers leaves the socket reusable');
  t.close();
  await srv.close();
});

test('abort: rejects at once as aborted', async () => {
  const srv = await rawServer(() => '');
  const t = new HttpTransport();
  const ctl = new AbortController();
  const url = new URL(`http://127.0.0.1:${srv.port}/v1/traces`);
  const p = t.send({ url, body: Buffer.from('{}'), headers: {}, timeoutMillis: 10_000, signal: ctl.signal });
  setTimeout(() => ctl.abort(), 30);
  await assert.rejects(p, (e: unknown) => e instanceof TransportError && e.kind === 'aborted');
  t.close();
  await srv.close();
});

test('many requests on kept-alive sockets add no listeners', async () => {
  const srv = await rawServer(() => OK);
  const t = new HttpTransport();
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarn);
  for (let i = 0; i < 50; i++) await send(t, srv.port);
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarn);
  assert.deepEqual(warnings, []);
  assert.equal(srv.connections, 1);
  t.close();
  await srv.close();
});

test('https: TLS to a server whose certificate is trusted; an untrusted one is a network error', async () => {
  const { TEST_KEY, TEST_CERT } = await import('../helpers/tls-fixture.ts');
  const https = await import('node:https');
  const srv = https.createServer({ key: TEST_KEY, cert: TEST_CERT }, (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(JSON.stringify({ got: n, path: req.url })));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    // Untrusted here (self-signed): refused, with the reason.
    const t = new HttpTransport();
    await assert.rejects(
      t.send({
        url: new URL(`https://127.0.0.1:${port}/v1/traces`),
        body: Buffer.from('{}'),
        headers: {},
        timeoutMillis: 3000,
        signal: new AbortController().signal,
      }),
      (e: unknown) => e instanceof TransportError && e.kind === 'network' && /self-signed/i.test(e.message),
    );
    t.close();
    // Trusted through NODE_EXTRA_CA_CERTS, as a user with a private CA would: a child process.
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { execFile } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'ekosis-tls-'));
    writeFileSync(join(dir, 'ca.pem'), TEST_CERT);
    const script = join(dir, 'send.mts');
    const TRANSPORT_PATH = new URL('../../lib/platform/node/transport.ts', import.meta.url).pathname;
    writeFileSync(
      script,
      `import { HttpTransport } from ${JSON.stringify(TRANSPORT_PATH)};
const t = new HttpTransport();
// Sockets never hold the process open (the batcher's flush hold does that): this script holds it.
const hold = setInterval(() => {}, 1000);
const out = [];
for (const host of ['127.0.0.1', 'localhost', 'localhost']) {
  const url = new URL('https://' + host + ':${port}/v1/traces');
  const body = Buffer.alloc(100000, 120);
  const r = await t.send({ url, body, headers: {}, timeoutMillis: 3000, signal: new AbortController().signal });
  out.push(r.status + ' ' + r.body);
}
t.close();
clearInterval(hold);
console.log(JSON.stringify(out));`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', script],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') }, timeout: 20_000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      ),
    );
    const statuses = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.deepEqual(statuses, Array(3).fill('200 {"got":100000,"path":"/v1/traces"}'));
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});

test('fetch transport (browser and worker bundles): status, Retry-After, body, cap, errors; Web gzip', async () => {
  const big = 'x'.repeat(MAX_RESPONSE_BYTES * 2);
  const answers = [
    OK,
    'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy',
    `HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`,
  ];
  const srv = await rawServer((i) => answers[i]!);
  const t = new fetchTransport.HttpTransport();
  assert.deepEqual(await send(t, srv.port), { status: 200, retryAfter: null, body: '{}' });
  assert.deepEqual(await send(t, srv.port), { status: 503, retryAfter: '7', body: 'busy' });
  assert.equal((await send(t, srv.port)).body.length, MAX_RESPONSE_BYTES);
  await srv.close();
  const silent = await rawServer(() => '');
  const timedOut = (e: unknown) =>
    e instanceof TransportError && e.kind === 'timeout' && /no answer within 150 ms/.test(e.message);
  await assert.rejects(send(t, silent.port, '{}', 150), timedOut);
  await silent.close();
  const refused = (e: unknown) => e instanceof TransportError && e.kind === 'network' && /ECONNREFUSED/.test(e.message);
  await assert.rejects(send(t, srv.port), refused);
  const json = Buffer.from(JSON.stringify({ resourceSpans: Array(50).fill({ a: 'é' }) }));
  assert.ok(gunzipSync(await fetchTransport.gzip(json)).equals(json));
});
