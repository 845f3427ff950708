// A local OTLP/HTTP JSON traces receiver (the `receive` command), built on node:http only.
//
// POST /v1/traces with Content-Type application/json (any charset parameter but UTF-8 is
// refused), optionally Content-Encoding gzip (or deflate):
//   200 {}                               valid ExportTraceServiceRequest: counted, appended
//                                        to `record`, its traces printed as trees
//   400 {"code":3,"message":"<reason>"}  not UTF-8, not JSON, or not the OTLP schema (the
//                                        validator's one-line reason naming the path)
//   413 {"code":8,...}                   body larger than the caps (on the wire / decompressed)
//   415 {"code":3,...}                   protobuf or any other content type / encoding
//   503 {"code":14,...}, Retry-After: 1  more requests in progress than maxConcurrentRequests
//   408 (from node:http)                 headers or body not received in time
//   404 other paths, 405 other methods (with Allow: POST); 500 if recording failed.
// Error bodies are google.rpc.Status in JSON, as OTLP/HTTP specifies. Rejections are also
// reported through `log` (default: stderr), one line each.
//
// It is a local tool, but a big or hostile sender must not make it fall over: it keeps no
// payload (only counts), caps bodies, bounds the requests in progress (so at most
// maxConcurrentRequests bodies are in memory), and drops connections that are too slow.

import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzip, inflate, type InputType, type ZlibOptions } from 'node:zlib';
import { renderTrees } from './tree.js';
import { validateExportRequest } from './validate.js';
import { errorMessage, oneLine } from '../util/text.js';

export interface ReceiverOptions {
  /** Port to listen on; default 4318; 0 picks a free port. */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** File to append every accepted payload to, one JSON line each (created if missing). */
  record?: string;
  /** Called with every accepted payload (parsed) and its body (decompressed); the receiver itself keeps neither. */
  onPayload?: (doc: unknown, raw: Buffer) => void;
  /** Where the trees of each accepted payload go; default: stdout, followed by a blank line. */
  print?: (text: string) => void;
  /** Where one line per rejected request goes; default: stderr. */
  log?: (line: string) => void;
  /** Colour the printed trees (default false). */
  color?: boolean;
  /** Cap on the request body as received, in bytes; default 4 MiB (senders split a batch on 413). */
  maxBodyBytes?: number;
  /** Cap on the decompressed JSON, in bytes; default 16 MiB. */
  maxDecompressedBytes?: number;
  /** Requests in progress at most; more are answered 503 with Retry-After at once. Default 4. */
  maxConcurrentRequests?: number;
  /** A client must send a request's headers within this; default 10 000 ms. */
  headersTimeoutMillis?: number;
  /** A client must send a whole request (headers and body) within this; default 30 000 ms. */
  requestTimeoutMillis?: number;
}

/** What a receiver has seen since it started. */
export interface ReceiverStats {
  /** Valid payloads accepted (200). */
  payloads: number;
  /** Spans in those payloads. */
  spans: number;
  /** Requests answered with an error status. */
  rejected: number;
}

export interface Receiver {
  /** http://host:port/v1/traces */
  url: string;
  port: number;
  host: string;
  /** Counts since start (a copy): the receiver keeps no payload. */
  stats(): ReceiverStats;
  /** Stops listening, closes every connection, waits for pending record writes. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const PATH = '/v1/traces';
// 4 MiB is gRPC's default message cap, familiar from OTLP collectors; a 512-span batch of this
// package's exporter is far below it, and a sender that hits it splits the batch on 413.
const DEFAULT_MAX_BODY = 4 * MiB;
const DEFAULT_MAX_JSON = 16 * MiB;
const DEFAULT_MAX_CONCURRENT = 4;
const DEFAULT_HEADERS_TIMEOUT = 10_000;
const DEFAULT_REQUEST_TIMEOUT = 30_000;
/** Open connections at most (idle keep-alive ones included); past it node:http drops new ones. */
const MAX_CONNECTIONS = 64;

// google.rpc.Code values used in error bodies
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export async function startReceiver(opts: ReceiverOptions = {}): Promise<Receiver> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 4318;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const maxJson = opts.maxDecompressedBytes ?? DEFAULT_MAX_JSON;
  const maxConcurrent = opts.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT;
  const headersTimeout = opts.headersTimeoutMillis ?? DEFAULT_HEADERS_TIMEOUT;
  const requestTimeout = Math.max(opts.requestTimeoutMillis ?? DEFAULT_REQUEST_TIMEOUT, headersTimeout);
  const print = opts.print ?? ((text: string) => void process.stdout.write(text + '\n'));
  const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const record = opts.record;
  const stats: ReceiverStats = { payloads: 0, spans: 0, rejected: 0 };
  let inProgress = 0;
  let writes: Promise<void> = Promise.resolve();

  if (record !== undefined) {
    try {
      await appendFile(record, '');
    } catch (err) {
      throw new Error(`cannot open ${record} for recording: ${errorMessage(err)}`);
    }
  }

  async function accept(req: IncomingMessage): Promise<void> {
    checkContentType(req.headers['content-type']);
    const encoding = contentEncoding(req.headers['content-encoding']);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBody) {
      throw new HttpError(413, RESOURCE_EXHAUSTED, `body of ${declared} bytes is over the ${maxBody}-byte limit`, {
        Connection: 'close',
      });
    }
    const body = await readBody(req, maxBody);
    const json = encoding === 'identity' ? body : await decompress(body, encoding, maxJson);
    if (json.length > maxJson) {
      throw new HttpError(413, RESOURCE_EXHAUSTED, `body of ${json.length} bytes is over the ${maxJson}-byte limit`);
    }
    // Parsing, checking and printing are synchronous: give other connections a turn between them.
    await nextTurn();
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(json);
    } catch {
      throw new HttpError(400, INVALID_ARGUMENT, 'body is not valid UTF-8');
    }
    if (text.trim() === '') {
      throw new HttpError(400, INVALID_ARGUMENT, 'body is empty: expected an ExportTraceServiceRequest JSON object');
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, INVALID_ARGUMENT, `body is not valid JSON: ${oneLine(errorMessage(err))}`);
    }
    await nextTurn();
    const result = validateExportRequest(doc);
    if (!result.ok) throw new HttpError(400, INVALID_ARGUMENT, result.reason);

    stats.payloads++;
    stats.spans += result.spans;
    opts.onPayload?.(doc, json);
    await nextTurn();
    const trees = renderTrees([doc], { color: opts.color });
    print(trees || '(a payload without spans)\n');
    if (record !== undefined) {
      // The line recorded is the body as received (decompressed), byte for byte, except that
      // any CR/LF becomes a space and the ends are trimmed. JSON allows a raw line break only
      // as whitespace between tokens, so the line parses to the same document, and integers
      // sent as JSON numbers keep their exact digits (re-serializing would round those beyond
      // 2^53). A body that was one line already, as every OTLP sender writes it, is unchanged.
      const line = text.replace(/\r\n|\r|\n/g, ' ').trim() + '\n';
      const write = writes.then(() => appendFile(record, line));
      writes = write.catch(() => undefined);
      try {
        await write;
      } catch (err) {
        throw new HttpError(500, INTERNAL, `cannot append to ${record}: ${oneLine(errorMessage(err))}`);
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    inProgress++;
    try {
      if (inProgress > maxConcurrent) {
        // Refused before reading the body: the bound is what keeps memory bounded.
        throw new HttpError(
          503,
          UNAVAILABLE,
          `busy: ${maxConcurrent} requests in progress, the most this receiver takes at once`,
          { 'Retry-After': '1', Connection: 'close' },
        );
      }
      if (path !== PATH) throw new HttpError(404, NOT_FOUND, `no such path ${path}: send OTLP traces to POST ${PATH}`);
      if (req.method !== 'POST') {
        throw new HttpError(405, UNIMPLEMENTED, `method ${req.method} is not allowed on ${PATH}: use POST`, {
          Allow: 'POST',
        });
      }
      await accept(req);
      send(res, 200, '{}');
    } catch (err) {
      const e =
        err instanceof HttpError ? err : new HttpError(500, INTERNAL, `internal error: ${oneLine(errorMessage(err))}`);
      stats.rejected++;
      log(`rejected ${req.method} ${path}: ${e.status} ${e.message}`);
      send(res, e.status, JSON.stringify({ code: e.code, message: e.message }), e.headers);
    } finally {
      // A request stays in progress until its answer is sent (or the client went away).
      if (res.writableFinished || res.destroyed) inProgress--;
      else res.once('close', () => inProgress--);
    }
  }

  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      // node:http checks both timeouts only this often (30 s by default).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, headersTimeout / 4)),
    },
    // handle() answers every failure itself; only a throwing `log` could get here: drop that request.
    (req, res) => void handle(req, res).catch(() => res.destroy()),
  );
  server.maxConnections = MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(Object.assign(new Error(`port ${port} on ${host} is already in use`), { code: err.code }));
      } else {
        const message = `cannot listen on ${host} port ${port}: ${errorMessage(err)}`;
        reject(Object.assign(new Error(message), { code: err.code }));
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}${PATH}`,
    port: actualPort,
    host,
    stats: () => ({ ...stats }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }).then(() => writes);
      return closing;
    },
  };
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function checkContentType(header: string | undefined): void {
  const [type = '', ...params] = (header ?? '').split(';').map((s) => s.trim().toLowerCase());
  if (type === 'application/json') {
    for (const p of params) {
      const [k, v = ''] = p.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
      if (k === 'charset' && v !== 'utf-8' && v !== 'utf8') {
        throw new HttpError(415, INVALID_ARGUMENT, `charset ${v} is not supported: OTLP/JSON is UTF-8`);
      }
    }
    return;
  }
  if (type === 'application/x-protobuf' || type === 'application/protobuf') {
    throw new HttpError(
      415,
      INVALID_ARGUMENT,
      `Content-Type ${type} is not supported: this receiver takes OTLP/HTTP JSON only (application/json)`,
    );
  }
  throw new HttpError(
    415,
    INVALID_ARGUMENT,
    type
      ? `Content-Type ${type} is not supported: send OTLP/HTTP JSON as application/json`
      : 'no Content-Type: send OTLP/HTTP JSON as application/json',
  );
}

function contentEncoding(header: string | undefined): 'identity' | 'gzip' | 'deflate' {
  const enc = (header ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return 'identity';
  if (enc === 'gzip' || enc === 'x-gzip') return 'gzip';
  if (enc === 'deflate') return 'deflate';
  throw new HttpError(415, INVALID_ARGUMENT, `Content-Encoding ${enc} is not supported: use gzip or none`);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return; // drain the rest without keeping it
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        reject(
          new HttpError(413, RESOURCE_EXHAUSTED, `body is over the ${max}-byte limit`, { Connection: 'close' }),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.on('close', () => {
      // no-op when already settled; otherwise the client went away mid-body
      if (!req.complete) reject(new HttpError(400, INVALID_ARGUMENT, 'the client closed the connection mid-body'));
    });
    req.on('error', (err) => {
      reject(new HttpError(400, INVALID_ARGUMENT, `cannot read body: ${oneLine(errorMessage(err))}`));
    });
  });
}

function decompress(body: Buffer, encoding: 'gzip' | 'deflate', max: number): Promise<Buffer> {
  const fn: (buf: InputType, options: ZlibOptions, cb: (err: Error | null, out: Buffer) => void) => void =
    encoding === 'gzip' ? gunzip : inflate;
  return new Promise((resolve, reject) => {
    fn(body, { maxOutputLength: max }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        reject(new HttpError(413, RESOURCE_EXHAUSTED, `body decompresses to over the ${max}-byte limit`));
      } else {
        const reason = oneLine(errorMessage(err));
        reject(new HttpError(400, INVALID_ARGUMENT, `body is not valid ${encoding}: ${reason}`));
      }
    });
  });
}

/** Resolves after the I/O waiting now has been handled (setImmediate runs after the poll phase). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
