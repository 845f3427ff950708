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
  close(): Promise<void>;
}

/** A TCP server: collects each request (head + body by Content-Length), answers with `answer(i)` split into `pieces`. */
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
      for (;;) {
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
    `POST /v1/traces?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Length: 10\r\ncontent-type: application/json\r\nauthorization: Bearer s\r\n\r\n{"a":"é"}`,
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
  const chunked = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
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
  await assert.rejects(send(t, junk.port), (e: unknown) => e instanceof TransportError && e.kind === 'network' && /^not HTTP\/1\.x: "SSH-2\.0-OpenSSH"$/.test(e.message));
  await junk.close();
  const silent = await rawServer(() => '');
  await assert.rejects(send(t, silent.port, '{}', 150), (e: unknown) => e instanceof TransportError && e.kind === 'timeout');
  t.close();
  await silent.close();
});

test('an idle socket the server closed is not reused', async () => {
  const srv = await rawServer(() => OK);
  const t = new HttpTransport();
  await send(t, srv.port);
  await srv.close(); // destroys the kept-alive socket server-side
  const again = await rawServer(() => OK);
  // same transport, new server on another port: works, and nothing leaks into it
  assert.equal((await send(t, again.port)).status, 200);
  t.close();
  await again.close();
});

test('abort: rejects at once as aborted', async () => {
  const srv = await rawServer(() => '');
  const t = new HttpTransport();
  const ctl = new AbortController();
  const p = t.send({ url: new URL(`http://127.0.0.1:${srv.port}/v1/traces`), body: Buffer.from('{}'), headers: {}, timeoutMillis: 10_000, signal: ctl.signal });
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
      t.send({ url: new URL(`https://127.0.0.1:${port}/v1/traces`), body: Buffer.from('{}'), headers: {}, timeoutMillis: 3000, signal: new AbortController().signal }),
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
    writeFileSync(
      script,
      `import { HttpTransport } from ${JSON.stringify(new URL('../../lib/platform/node/transport.ts', import.meta.url).pathname)};
const t = new HttpTransport();
const out = [];
for (const host of ['127.0.0.1', 'localhost', 'localhost']) {
  const r = await t.send({ url: new URL('https://' + host + ':${port}/v1/traces'), body: Buffer.alloc(100000, 120), headers: {}, timeoutMillis: 3000, signal: new AbortController().signal });
  out.push(r.status + ' ' + r.body);
}
t.close();
console.log(JSON.stringify(out));`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') }, timeout: 20_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()!), Array(3).fill('200 {"got":100000,"path":"/v1/traces"}'));
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});

test('fetch transport (browser and worker bundles): status, Retry-After, body, capped body, errors; Web gzip', async () => {
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
  await assert.rejects(send(t, silent.port, '{}', 150), (e: unknown) => e instanceof TransportError && e.kind === 'timeout' && /no answer within 150 ms/.test(e.message));
  await silent.close();
  await assert.rejects(send(t, srv.port), (e: unknown) => e instanceof TransportError && e.kind === 'network' && /ECONNREFUSED/.test(e.message));
  const json = Buffer.from(JSON.stringify({ resourceSpans: Array(50).fill({ a: 'é' }) }));
  assert.ok(gunzipSync(await fetchTransport.gzip(json)).equals(json));
});
