// Node's transport: a minimal HTTP/1.1 client over node:net / node:tls. Why not node:http:
// a 260 KB POST costs ~375 µs of CPU through ClientRequest and its agent against ~100 µs as
// one corked write on a kept-alive socket, and the exporter sends nothing else. It speaks just
// what an OTLP receiver needs: POST with Content-Length; responses with Content-Length,
// chunked, or close-delimited bodies; 1xx skipped; keep-alive. Responses are read with a cap;
// idle sockets are unref'd (they never keep the process alive) and closed after 4 s, before a
// typical server's keep-alive timeout; a request in flight keeps its socket ref'd (a
// beforeExit flush must be able to finish), never its timeout timer.
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { MAX_RESPONSE_BYTES, TransportError, describe, unrefTimer, type SendRequest, type Transport, type TransportResponse } from './transport.js';

const IDLE_MS = 4000;
/** Response head (status line and headers) size at most. */
const MAX_HEAD = 64 * 1024;

type Sock = net.Socket;

/** What the socket's events go to while a request owns it. */
interface Exchange {
  data(d: Buffer): void;
  end(): void;
  close(): void;
  error(err: Error): void;
}

/**
 * A kept-alive connection. Its listeners are attached once, for its whole life, and forward to
 * the request that owns it (adding and removing listeners per request cost more than the write).
 */
class Conn {
  exchange: Exchange | null = null;

  constructor(
    readonly sock: Sock,
    onGone: (c: Conn) => void,
  ) {
    sock.setNoDelay(true);
    // Anything arriving on an idle socket is a protocol error: drop the socket.
    sock.on('data', (d: Buffer) => (this.exchange ? this.exchange.data(d) : sock.destroy()));
    sock.on('end', () => this.exchange?.end());
    sock.on('error', (err) => (this.exchange ? this.exchange.error(err) : sock.destroy()));
    sock.on('close', () => {
      const x = this.exchange;
      this.exchange = null;
      onGone(this);
      x?.close();
    });
    // Inactivity: an idle socket is closed; a request has its own timeout.
    sock.setTimeout(IDLE_MS, () => {
      if (!this.exchange) sock.destroy();
    });
  }
}

export class NodeHttpTransport implements Transport {
  /** Idle kept-alive connections per origin, at most two (two requests are in flight at most). */
  private readonly idle = new Map<string, Conn[]>();
  private closed = false;

  private take(key: string): Conn | undefined {
    const list = this.idle.get(key);
    while (list !== undefined && list.length > 0) {
      const c = list.pop()!;
      if (!c.sock.destroyed && c.sock.readyState === 'open') return c;
    }
    return undefined;
  }

  private keep(key: string, c: Conn): void {
    c.exchange = null;
    let list = this.idle.get(key);
    if (list === undefined) this.idle.set(key, (list = []));
    if (this.closed || list.length >= 2) return void c.sock.destroy();
    c.sock.unref();
    list.push(c);
  }

  private forget(key: string, c: Conn): void {
    const list = this.idle.get(key);
    const i = list === undefined ? -1 : list.indexOf(c);
    if (i >= 0) list!.splice(i, 1);
  }

  send(req: SendRequest): Promise<TransportResponse> {
    const url = req.url;
    const secure = url.protocol === 'https:';
    const port = Number(url.port) || (secure ? 443 : 80);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const key = `${url.protocol}//${host}:${port}`;
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${req.body.byteLength}\r\n`;
    for (const k in req.headers) head += `${k}: ${req.headers[k]}\r\n`;
    head += '\r\n';

    return new Promise<TransportResponse>((resolve, reject) => {
      let conn = this.take(key);
      if (conn === undefined) {
        const sock = secure
          ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] })
          : net.connect({ host, port });
        conn = new Conn(sock, (c) => this.forget(key, c));
      }
      const c = conn;
      const s = c.sock;
      s.ref();
      let settled = false;
      let status = 0;
      let retryAfter: string | null = null;
      let pending: Buffer = Buffer.alloc(0);
      let headDone = false;
      let reusable = false;
      /** Body framing: bytes left (content-length), -1 chunked, -2 until close. */
      let left = -2;
      let chunkLeft = 0; // chunked: data bytes left in the current chunk; -1 = expecting a size line
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let written = false;

      const finishOk = (reuse: boolean): void => {
        if (settled) return;
        settled = true;
        cleanup();
        const body = Buffer.concat(kept).toString('utf8');
        if (reuse && written && !this.closed) this.keep(key, c);
        else {
          c.exchange = null;
          s.destroy();
        }
        resolve({ status, retryAfter, body });
      };
      const fail = (kind: 'network' | 'timeout' | 'aborted', message: string): void => {
        if (settled) return;
        // Once the status line arrived the attempt has an answer (a cut-off body still counts:
        // re-sending would deliver the spans twice).
        if (status !== 0 && kind !== 'aborted') return finishOk(false);
        settled = true;
        cleanup();
        c.exchange = null;
        s.destroy();
        reject(new TransportError(kind, message));
      };
      const keepBody = (b: Buffer): void => {
        if (keptBytes >= MAX_RESPONSE_BYTES) return;
        const part = b.length > MAX_RESPONSE_BYTES - keptBytes ? b.subarray(0, MAX_RESPONSE_BYTES - keptBytes) : b;
        kept.push(part);
        keptBytes += part.length;
      };
      const timer = setTimeout(() => fail('timeout', `no answer within ${req.timeoutMillis} ms`), req.timeoutMillis);
      unrefTimer(timer);
      const onAbort = (): void => fail('aborted', 'aborted at shutdown');
      req.signal.addEventListener('abort', onAbort, { once: true });
      function cleanup(): void {
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
      }
      if (req.signal.aborted) return onAbort();

      /** Parses what arrived; returns when more is needed or the response is complete. */
      const parse = (): void => {
        while (!settled) {
          if (!headDone) {
            const end = pending.indexOf('\r\n\r\n', 0, 'latin1');
            if (end < 0) {
              if (pending.length > MAX_HEAD) fail('network', 'response head too large');
              return;
            }
            const lines = pending.subarray(0, end).toString('latin1').split('\r\n');
            pending = pending.subarray(end + 4);
            const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
            if (!m) return fail('network', `not an HTTP/1.x response: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
            const code = Number(m[2]);
            let length = -1;
            let chunked = false;
            let close = m[1] === '0';
            let ra: string | null = null;
            for (let i = 1; i < lines.length; i++) {
              const line = lines[i]!;
              const c = line.indexOf(':');
              if (c <= 0) continue;
              const name = line.slice(0, c).trim().toLowerCase();
              const value = line.slice(c + 1).trim();
              if (name === 'content-length') length = Number(value);
              else if (name === 'transfer-encoding') chunked = /chunked/i.test(value);
              else if (name === 'connection') close = /close/i.test(value) || (m[1] === '0' && !/keep-alive/i.test(value));
              else if (name === 'retry-after') ra = value;
            }
            if (code < 200) continue; // 100 Continue and friends: the real answer follows
            headDone = true;
            status = code;
            retryAfter = ra;
            reusable = !close;
            if (chunked) {
              left = -1;
              chunkLeft = -1;
            } else if (length >= 0 && Number.isFinite(length)) left = length;
            else {
              left = -2;
              reusable = false;
            }
            if (code === 204 || code === 304) return finishOk(reusable);
          }
          if (left >= 0) {
            // Content-Length body
            const n = Math.min(left, pending.length);
            keepBody(pending.subarray(0, n));
            left -= n;
            pending = pending.subarray(n);
            if (left === 0) return finishOk(reusable && pending.length === 0);
            if (keptBytes >= MAX_RESPONSE_BYTES) return finishOk(false); // enough: drop the rest unread
            return;
          }
          if (left === -2) {
            // until close
            keepBody(pending);
            pending = Buffer.alloc(0);
            if (keptBytes >= MAX_RESPONSE_BYTES) return finishOk(false);
            return;
          }
          // chunked: a size line, that many bytes, CRLF; a zero size ends the body
          if (chunkLeft === -1) {
            const eol = pending.indexOf('\r\n', 0, 'latin1');
            if (eol < 0) {
              if (pending.length > 1024) fail('network', 'bad chunk size line');
              return;
            }
            const size = parseInt(pending.subarray(0, eol).toString('latin1'), 16);
            if (!Number.isFinite(size) || size < 0) return fail('network', 'bad chunk size');
            pending = pending.subarray(eol + 2);
            // Last chunk: the response is complete; trailers, if any, make the socket unusable.
            if (size === 0) return finishOk(reusable && pending.length === 2 && pending[0] === 13 && pending[1] === 10);
            chunkLeft = size + 2; // data and its CRLF
          }
          const data = Math.max(0, Math.min(chunkLeft - 2, pending.length));
          keepBody(pending.subarray(0, data));
          const n = Math.min(chunkLeft, pending.length);
          chunkLeft -= n;
          pending = pending.subarray(n);
          if (keptBytes >= MAX_RESPONSE_BYTES) return finishOk(false);
          if (chunkLeft > 0) return;
          chunkLeft = -1;
        }
      };

      c.exchange = {
        data: (d: Buffer) => {
          pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
          parse();
        },
        end: () => {
          if (headDone && left === -2) finishOk(false);
          else fail('network', status === 0 ? 'connection closed before an answer' : 'connection closed mid-response');
        },
        close: () => fail('network', 'connection closed before an answer'),
        error: (err) => fail('network', describe(err)),
      };
      s.cork();
      s.write(head, 'latin1');
      s.write(req.body, () => {
        written = true;
      });
      s.uncork();
    });
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list) c.sock.destroy();
    this.idle.clear();
  }
}

/** gzip on libuv's thread pool, off the event loop. */
export function gzip(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
}
