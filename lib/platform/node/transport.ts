// Node's transport (Bun and Deno run it too): a minimal HTTP/1.1 client over node:net /
// node:tls. Why not node:http: a 260 KB POST costs ~375 µs of CPU through ClientRequest and its
// agent against ~205 µs as one corked write on a kept-alive socket (peer e2e 4.55 -> 3.95
// µs/span), and the exporter sends nothing else. It speaks just what an OTLP receiver needs:
// POST with Content-Length; the response is read by ./response-reader.ts (Content-Length,
// chunked or close-delimited bodies, 1xx skipped, everything capped); keep-alive.
//
// Sockets never hold the process open, in flight or idle: the batcher's flush hold decides how
// long a process waits for an export (an in-flight request must not keep it alive past shutdown
// or exit). Idle sockets are closed after 4 s, before a typical server's keep-alive timeout.
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import {
  TransportError,
  describe,
  timeoutMessage,
  unrefTimer,
  type SendRequest,
  type Transport,
  type TransportErrorKind,
  type TransportResponse,
} from '../transport.js';
import { ResponseReader, type Answer } from './response-reader.js';

const IDLE_MS = 4000;
/** Idle kept-alive connections at most (two requests are in flight at most). */
const MAX_IDLE = 2;

/** A kept-alive connection; `owner` is the request using it: data, an error, or nothing (closed). */
interface Connection {
  socket: net.Socket;
  origin: string;
  owner: ((event?: Buffer | Error) => void) | null;
}

export class HttpTransport implements Transport {
  #idle: Connection[] = [];
  #closed = false;

  /** An idle connection to the origin that is still open, if any. */
  #take(origin: string): Connection | undefined {
    for (let i = this.#idle.length; i--;) {
      const connection = this.#idle[i]!;
      if (connection.origin !== origin) continue;
      this.#idle.splice(i, 1);
      if (connection.socket.readyState === 'open') return connection;
      connection.socket.destroy();
    }
    return undefined;
  }

  #connect(url: URL): Connection {
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
    const port = +url.port || (secure ? 443 : 80);
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    const connection: Connection = { socket, origin: url.origin, owner: null };
    socket.setNoDelay(true);
    socket.unref();
    // Listeners are attached once for the socket's life and forward to the request that owns it
    // (adding and removing them per request cost more than the write). Anything arriving on an
    // idle socket is a protocol error: drop the socket.
    const forward = (event: Buffer | Error): void => {
      if (connection.owner) connection.owner(event);
      else socket.destroy();
    };
    socket.on('data', forward).on('error', forward);
    socket.on('close', () => {
      const i = this.#idle.indexOf(connection);
      if (i >= 0) this.#idle.splice(i, 1);
      connection.owner?.();
    });
    // Inactivity: an idle socket is closed; a request has its own timeout.
    socket.setTimeout(IDLE_MS, () => {
      if (!connection.owner) socket.destroy();
    });
    return connection;
  }

  send(req: SendRequest): Promise<TransportResponse> {
    const { url, body, signal } = req;
    if (signal.aborted) return Promise.reject(new TransportError('aborted', 'aborted at shutdown'));
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
    head += `Content-Length: ${body.byteLength}\r\n`;
    for (const name in req.headers) head += `${name}: ${req.headers[name]}\r\n`;
    head += '\r\n';

    return new Promise<TransportResponse>((resolve, reject) => {
      let connection: Connection;
      let reader: ResponseReader;
      let reused = false;
      let written = false;
      let settled = false;

      const settle = (outcome: Answer | TransportError): void => {
        if (settled) return;
        settled = true;
        connection.owner = null;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (outcome instanceof TransportError) {
          connection.socket.destroy();
          reject(outcome);
          return;
        }
        if (outcome.reuse && written && !this.#closed) this.#keep(connection);
        else connection.socket.destroy();
        resolve(outcome.res);
      };
      /** The exchange ends early: the response as far as it got, if its head arrived, else this error. */
      const stop = (kind: TransportErrorKind, message: string): void => {
        const answer = kind === 'aborted' ? undefined : reader.end();
        settle(answer ?? new TransportError(kind, message));
      };
      const onSocket = (event?: Buffer | Error): void => {
        if (event instanceof Buffer) {
          const outcome = reader.feed(event);
          if (typeof outcome === 'string') settle(new TransportError('network', outcome));
          else if (outcome) settle(outcome);
          return;
        }
        if (reused && reader.received === 0) {
          // A kept-alive socket the server closed as the request went out (its keep-alive timeout
          // raced ours): nothing was answered, so the request goes again, once, on a fresh
          // connection. Not a failed attempt.
          connection.owner = null;
          connection.socket.destroy();
          start(this.#connect(url), false);
          return;
        }
        stop('network', event ? describe(event) : 'connection closed before an answer');
      };
      const start = (on: Connection, isReused: boolean): void => {
        connection = on;
        reused = isReused;
        reader = new ResponseReader();
        written = false;
        on.owner = onSocket;
        const socket = on.socket;
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body, () => (written = true));
        socket.uncork();
      };
      const onAbort = (): void => stop('aborted', 'aborted at shutdown');
      const timer = setTimeout(stop, req.timeoutMillis, 'timeout', timeoutMessage(req.timeoutMillis));
      unrefTimer(timer);

      const idle = this.#take(url.origin);
      signal.addEventListener('abort', onAbort, { once: true });
      start(idle ?? this.#connect(url), idle !== undefined);
    });
  }

  #keep(connection: Connection): void {
    if (this.#idle.length >= MAX_IDLE) {
      connection.socket.destroy();
      return;
    }
    this.#idle.push(connection);
  }

  close(): void {
    this.#closed = true;
    for (const connection of this.#idle) connection.socket.destroy();
    this.#idle = [];
  }
}

/** gzip on libuv's thread pool, off the event loop. */
export function gzip(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
}
