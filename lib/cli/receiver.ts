// A local OTLP/HTTP JSON traces receiver (the `receive` command), built on node:http only.
//
// POST /v1/traces with Content-Type application/json (any charset parameter but UTF-8 is
// refused), optionally Content-Encoding gzip (or deflate):
//   200 {}                               valid ExportTraceServiceRequest: kept in `payloads`,
//                                        appended to `record`, its traces printed as trees
//   400 {"code":3,"message":"<reason>"}  not UTF-8, not JSON, or not the OTLP schema (the
//                                        validator's one-line reason naming the path)
//   413 {"code":8,...}                   body larger than the caps (on the wire / decompressed)
//   415 {"code":3,...}                   protobuf or any other content type / encoding
//   404 other paths, 405 other methods (with Allow: POST); 500 if recording failed.
// Error bodies are google.rpc.Status in JSON, as OTLP/HTTP specifies. Rejections are also
// reported through `log` (default: stderr), one line each.

import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzip, inflate, type InputType, type ZlibOptions } from 'node:zlib';
import { renderTrees } from './tree.js';
import { validateExportRequest } from './validate.js';

export interface ReceiverOptions {
  /** Port to listen on; default 4318; 0 picks a free port. */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** File to append every accepted payload to, one JSON line each (created if missing). */
  record?: string;
  /** Called with every accepted payload (parsed) and its body (decompressed). */
  onPayload?: (doc: unknown, raw: Buffer) => void;
  /** Where the trees of each accepted payload go; default: stdout, followed by a blank line. */
  print?: (text: string) => void;
  /** Where one line per rejected request goes; default: stderr. */
  log?: (line: string) => void;
  /** Colour the printed trees (default false). */
  color?: boolean;
  /** Cap on the request body as received, in bytes; default 64 MiB. */
  maxBodyBytes?: number;
  /** Cap on the decompressed JSON, in bytes; default 64 MiB. */
  maxDecompressedBytes?: number;
}

export interface Receiver {
  /** http://host:port/v1/traces */
  url: string;
  port: number;
  host: string;
  /** Every accepted payload, parsed, in arrival order. */
  payloads: unknown[];
  /** Stops listening, closes every connection, waits for pending record writes. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const PATH = '/v1/traces';

// google.rpc.Code values used in error bodies
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;

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
  const maxBody = opts.maxBodyBytes ?? 64 * MiB;
  const maxJson = opts.maxDecompressedBytes ?? 64 * MiB;
  const print = opts.print ?? ((text: string) => void process.stdout.write(text + '\n'));
  const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const record = opts.record;
  const payloads: unknown[] = [];
  let writes: Promise<void> = Promise.resolve();

  if (record !== undefined) {
    try {
      await appendFile(record, '');
    } catch (err) {
      throw new Error(`cannot open ${record} for recording: ${errMessage(err)}`);
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
      throw new HttpError(400, INVALID_ARGUMENT, `body is not valid JSON: ${oneLine(errMessage(err))}`);
    }
    const result = validateExportRequest(doc);
    if (!result.ok) throw new HttpError(400, INVALID_ARGUMENT, result.reason);

    payloads.push(doc);
    opts.onPayload?.(doc, json);
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
        throw new HttpError(500, INTERNAL, `cannot append to ${record}: ${oneLine(errMessage(err))}`);
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
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
        err instanceof HttpError ? err : new HttpError(500, INTERNAL, `internal error: ${oneLine(errMessage(err))}`);
      log(`rejected ${req.method} ${path}: ${e.status} ${e.message}`);
      send(res, e.status, JSON.stringify({ code: e.code, message: e.message }), e.headers);
    }
  }

  const server = createServer((req, res) => void handle(req, res));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(Object.assign(new Error(`port ${port} on ${host} is already in use`), { code: err.code }));
      } else {
        reject(Object.assign(new Error(`cannot listen on ${host} port ${port}: ${errMessage(err)}`), { code: err.code }));
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
    payloads,
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
    req.on('error', (err) => reject(new HttpError(400, INVALID_ARGUMENT, `cannot read body: ${oneLine(errMessage(err))}`)));
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
        reject(new HttpError(400, INVALID_ARGUMENT, `body is not valid ${encoding}: ${oneLine(errMessage(err))}`));
      }
    });
  });
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ');
}
