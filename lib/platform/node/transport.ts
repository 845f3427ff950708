// Node's transport (Bun and Deno run it too): a minimal HTTP/1.1 client over
// node:net / node:tls. Why not node:http: a 260 KB POST costs ~375 µs of CPU through ClientRequest
// and its agent against ~100 µs as one corked write on a kept-alive socket (+0.6 µs per span end to
// end), and the exporter sends nothing else. It speaks just what an OTLP receiver needs: POST with
// Content-Length; responses with Content-Length, chunked, or close-delimited bodies; 1xx skipped;
// keep-alive. Responses are read with a cap; idle sockets are unref'd (they never keep the process
// alive) and closed after 4 s, before a typical server's keep-alive timeout; a request in flight
// keeps its socket ref'd (a beforeExit flush must be able to finish), never its timeout timer.
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { MAX_RESPONSE_BYTES, TransportError, describe, timeoutMessage, unrefTimer, type SendRequest, type Transport, type TransportErrorKind, type TransportResponse } from '../transport.js';

const IDLE_MS = 4000;
/** Response head (status line and headers) size at most. */
const MAX_HEAD = 64 * 1024;

/** A kept-alive connection; `on` is the request that owns it: data, an error, or nothing (closed). */
interface Conn {
  sock: net.Socket;
  key: string;
  on: ((d?: Buffer | Error) => void) | null;
}

/** A complete (or, once the exchange ended, the best available) response; `reuse`: the socket is clean. */
interface Answer {
  res: TransportResponse;
  reuse: boolean;
}

/** A header's value from a response head ("\r\n" before each header line), or undefined. */
const header = (head: string, name: string): string | undefined =>
  new RegExp(`\r\n${name}:[ \t]*([^\r]*)`, 'i').exec(head)?.[1]!.trimEnd();

/**
 * The response in `buf` (everything received so far): an Answer, undefined while more bytes are
 * needed, or a protocol error. `ended`: nothing more will come (closed, timed out, failed); then a
 * response whose head arrived is the answer, its body as far as it got (re-sending would deliver
 * the spans twice). Parsed from the start on every packet: answers are a few bytes, bodies capped.
 */
function parse(buf: Buffer, ended: boolean): Answer | string | undefined {
  let at = 0;
  let head: string;
  let m: RegExpExecArray | null;
  do {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) return buf.length - at > MAX_HEAD ? 'response head too large' : undefined;
    head = buf.toString('latin1', at, end);
    m = /^HTTP\/1\.([01]) (\d{3})/.exec(head);
    if (!m) return `not HTTP/1.x: ${JSON.stringify(head.slice(0, 40))}`;
    at = end + 4;
  } while (+m[2]! < 200); // 100 Continue and friends: the real answer follows
  const status = +m[2]!;
  const connection = header(head, 'connection') ?? '';
  let reuse = !/close/i.test(connection) && (m[1] === '1' || /keep-alive/i.test(connection));
  const rest = buf.subarray(at);
  let body = rest;
  let done = true;
  const length = header(head, 'content-length');
  if (status === 204 || status === 304) body = rest.subarray(0, 0);
  else if (/chunked/i.test(header(head, 'transfer-encoding') ?? '')) {
    // A size line, that many bytes, CRLF; a zero size ends the body. Trailers or a bad size
    // line end it too, leaving the socket unusable.
    const parts: Buffer[] = [];
    for (let p = 0; ; ) {
      const eol = rest.indexOf('\r\n', p, 'latin1');
      if (eol < 0) {
        done = rest.length - p > 1024; // a size line that long is no size line
        reuse &&= !done;
        break;
      }
      const size = parseInt(rest.toString('latin1', p, eol), 16);
      if (!(size > 0)) {
        // the last chunk; reusable only if nothing but its CRLF follows
        reuse &&= size === 0 && rest.length === eol + 4 && rest.readUInt16BE(eol + 2) === 0x0d0a;
        break;
      }
      parts.push(rest.subarray(eol + 2, eol + 2 + size)); // as much of it as arrived
      p = eol + 4 + size;
      if (p > rest.length) {
        done = false;
        break;
      }
    }
    body = Buffer.concat(parts);
  } else if (length !== undefined && /^\d+$/.test(length)) {
    body = rest.subarray(0, +length);
    done = rest.length >= +length;
    reuse &&= rest.length === +length;
  } else {
    done = reuse = false; // the body runs until the connection closes
  }
  if (!done && (body.length >= MAX_RESPONSE_BYTES || buf.length > 4 * MAX_RESPONSE_BYTES)) {
    done = true; // enough: the rest is dropped unread with its socket
    reuse = false;
  }
  if (body.length > MAX_RESPONSE_BYTES) body = body.subarray(0, MAX_RESPONSE_BYTES);
  if (!done && !ended) return undefined;
  return { res: { status, retryAfter: header(head, 'retry-after') ?? null, body: body.toString() }, reuse: done && reuse };
}

export class HttpTransport implements Transport {
  /** Idle kept-alive connections, at most two (two requests are in flight at most). */
  #idle: Conn[] = [];
  #closed = false;

  #take(key: string): Conn | undefined {
    for (let i = this.#idle.length; i--; ) {
      const c = this.#idle[i]!;
      if (c.key !== key) continue;
      this.#idle.splice(i, 1);
      if (c.sock.readyState === 'open') return c;
      c.sock.destroy();
    }
    return undefined;
  }

  #connect(key: string, url: URL, host: string): Conn {
    const secure = url.protocol === 'https:';
    const port = +url.port || (secure ? 443 : 80);
    const sock = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    const c: Conn = { sock, key, on: null };
    sock.setNoDelay(true);
    // Listeners are attached once for the socket's life and forward to the request that owns it
    // (adding and removing them per request cost more than the write). Anything arriving on an
    // idle socket is a protocol error: drop the socket.
    const forward = (d: Buffer | Error): void => (c.on ? c.on(d) : void sock.destroy());
    sock.on('data', forward).on('error', forward);
    sock.on('close', () => {
      const i = this.#idle.indexOf(c);
      if (i >= 0) this.#idle.splice(i, 1);
      c.on?.();
    });
    // Inactivity: an idle socket is closed; a request has its own timeout.
    sock.setTimeout(IDLE_MS, () => c.on || sock.destroy());
    return c;
  }

  send(req: SendRequest): Promise<TransportResponse> {
    const { url, body, signal } = req;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
    const key = url.origin;
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${body.byteLength}\r\n`;
    for (const k in req.headers) head += `${k}: ${req.headers[k]}\r\n`;

    return new Promise<TransportResponse>((resolve, reject) => {
      const c = this.#take(key) ?? this.#connect(key, url, host);
      const s = c.sock;
      s.ref();
      let received: Buffer = Buffer.alloc(0);
      let written = false;

      const finish = (answer: Answer | string | undefined, kind: TransportErrorKind, message: string): void => {
        if (c.on !== onSocket) return; // settled already
        c.on = null;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (typeof answer === 'object' && answer.reuse && written && !this.#closed) this.#keep(c);
        else s.destroy();
        if (typeof answer === 'object') resolve(answer.res);
        else reject(new TransportError(kind, answer || message));
      };
      /** The exchange ends early: the response as far as it got, if its head arrived, else this error. */
      const stop = (kind: TransportErrorKind, message: string): void =>
        finish(kind === 'aborted' ? undefined : parse(received, true), kind, message);
      const onSocket = (d?: Buffer | Error): void => {
        if (!(d instanceof Buffer)) return stop('network', d ? describe(d) : 'connection closed before an answer');
        received = received.length === 0 ? d : Buffer.concat([received, d]);
        const answer = parse(received, false);
        if (answer !== undefined) finish(answer, 'network', '');
      };
      const onAbort = (): void => stop('aborted', 'aborted at shutdown');
      const timer = setTimeout(stop, req.timeoutMillis, 'timeout', timeoutMessage(req.timeoutMillis));
      unrefTimer(timer);
      c.on = onSocket;
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      s.cork();
      s.write(head + '\r\n', 'latin1');
      s.write(body, () => (written = true));
      s.uncork();
    });
  }

  #keep(c: Conn): void {
    if (this.#idle.length >= 2) return void c.sock.destroy();
    c.sock.unref();
    this.#idle.push(c);
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#idle) c.sock.destroy();
    this.#idle = [];
  }
}

/** gzip on libuv's thread pool, off the event loop. */
export function gzip(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
}
