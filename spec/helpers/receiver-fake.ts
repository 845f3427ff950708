// A programmable OTLP/HTTP receiver for tests: a real node:http server on 127.0.0.1 whose every
// answer is decided by a plan (status, Retry-After, body, hang, slow, reset, huge streamed
// body). It keeps what each request carried (raw bytes, gunzipped JSON, span ids) and how it
// ended for the client (answered with a status, or never answered: timed out / reset), so a
// test can assert exact payloads and tell a legitimate re-send from a duplicate delivery.
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';

export type Answer =
  /** A complete answer. */
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Read the request, never answer. */
  | { hang: true }
  /** Answer after `delayMs` (unless the client gave up first). */
  | { slow: number; then: Answer }
  /** Send `status` headers and part of the body, then reset the connection. */
  | { resetMidResponse: true; status?: number }
  /** Read the request, then reset the connection without answering. */
  | { resetBeforeResponse: true }
  /** 200 with a streamed body of `bytes` bytes (written with backpressure, stopped when the client leaves). */
  | { hugeBody: number };

export interface Received {
  /** Order of arrival, from 0. */
  index: number;
  /** How many times this exact request body had arrived before, plus one. */
  attempt: number;
  /** Milliseconds since the receiver started (performance clock). */
  at: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The body exactly as it came over the wire (gzipped when Content-Encoding: gzip). */
  raw: Buffer;
  /** The JSON text (gunzipped if needed). */
  json: string;
  /** Parsed payload, or undefined when the body was not JSON. */
  payload: any;
  /** Every span in the payload, flattened. */
  spans: any[];
  spanIds: string[];
  /** The status the client saw, or undefined when it never got one (hang, timed out, reset before answering). */
  status: number | undefined;
  /** The socket this request came on. */
  connection: number;
}

export interface PlanContext {
  /** The request so far (status not yet known). */
  req: Received;
  /** Requests received so far, this one included. */
  count: number;
}

export type Plan = (ctx: PlanContext) => Answer;

export const OK: Plan = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{}' });

export class FakeReceiver {
  readonly requests: Received[] = [];
  /** 'connection' events: sockets opened by clients. */
  connections = 0;
  /** Bytes of huge bodies actually written to sockets. */
  hugeBytesWritten = 0;
  /** Huge bodies written to the end (the client read them all). */
  hugeBodiesCompleted = 0;
  plan: Plan;
  private readonly seen = new Map<string, number>();
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly t0 = performance.now();
  private closed = false;

  private constructor(
    private readonly server: http.Server,
    plan: Plan,
    readonly port: number,
  ) {
    this.plan = plan;
  }

  static async start(plan: Plan = OK): Promise<FakeReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const rcv = new FakeReceiver(server, plan, port);
    server.on('connection', (s) => {
      rcv.connections++;
      (s as net.Socket & { _fakeId?: number })._fakeId = rcv.connections;
      rcv.sockets.add(s);
      s.on('close', () => rcv.sockets.delete(s));
      s.on('error', () => undefined);
    });
    server.on('request', (req, res) => rcv.handle(req, res));
    server.on('clientError', (_err, socket) => socket.destroy());
    return rcv;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/traces`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let json = '';
      try {
        json =
          req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      } catch {
        json = '';
      }
      let payload: any;
      try {
        payload = JSON.parse(json);
      } catch {
        payload = undefined;
      }
      const spans = flattenSpans(payload);
      const digest = createHash('sha1').update(raw).digest('hex');
      const attempt = (this.seen.get(digest) ?? 0) + 1;
      this.seen.set(digest, attempt);
      const rec: Received = {
        index: this.requests.length,
        attempt,
        at: performance.now() - this.t0,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        raw,
        json,
        payload,
        spans,
        spanIds: spans.map((s) => s.spanId as string),
        status: undefined,
        connection: (req.socket as net.Socket & { _fakeId?: number })._fakeId ?? 0,
      };
      this.requests.push(rec);
      let answer: Answer;
      try {
        answer = this.plan({ req: rec, count: this.requests.length });
      } catch {
        answer = { status: 500, body: 'plan threw' };
      }
      this.answer(rec, req, res, answer);
    });
  }

  private answer(rec: Received, req: http.IncomingMessage, res: http.ServerResponse, a: Answer): void {
    if (this.closed || req.socket.destroyed) return; // the client left: never answered
    if ('hang' in a) return;
    if ('slow' in a) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.answer(rec, req, res, a.then);
      }, a.slow);
      this.timers.add(t);
      return;
    }
    if ('resetBeforeResponse' in a) {
      req.socket.destroy();
      return;
    }
    if ('resetMidResponse' in a) {
      const status = a.status ?? 200;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partialSuccess":{"rejectedSp', () => {
        rec.status = status;
        // Let the headers and the first bytes reach the client, then reset.
        setTimeout(() => req.socket.destroy(), 5);
      });
      rec.status = status;
      return;
    }
    if ('hugeBody' in a) {
      rec.status = 200;
      void this.streamHuge(res, a.hugeBody);
      return;
    }
    rec.status = a.status;
    res.writeHead(a.status, a.headers ?? {});
    res.end(a.body ?? '');
  }

  private async streamHuge(res: http.ServerResponse, total: number): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 0x61); // 'aaaa…'
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(total) });
    let left = total;
    let gone = false;
    res.on('close', () => (gone = true));
    while (left > 0 && !gone && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      this.hugeBytesWritten += piece.length;
      if (!res.write(piece)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (left === 0 && !gone) {
      res.end();
      this.hugeBodiesCompleted++;
    }
  }

  /** Requests the client got an answer to. */
  answered(): Received[] {
    return this.requests.filter((r) => r.status !== undefined);
  }

  /** Requests received but never answered (timed out, hung, reset before answering). */
  unanswered(): Received[] {
    return this.requests.filter((r) => r.status === undefined);
  }

  /** Span ids in requests the client got a 2xx for, with how many times each. */
  accepted(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.requests) {
      if (r.status === undefined || r.status < 200 || r.status >= 300) continue;
      for (const id of r.spanIds) m.set(id, (m.get(id) ?? 0) + 1);
    }
    return m;
  }

  /**
   * Span ids received more than once with the requests they came in. A re-send after a non-2xx
   * answer is a retry, not a duplicate; what is left are spans accepted twice, or received again
   * after an attempt the client never got an answer to.
   */
  duplicates(): { spanId: string; requests: Received[] }[] {
    const by = new Map<string, Received[]>();
    for (const r of this.requests) {
      for (const id of r.spanIds) {
        let list = by.get(id);
        if (!list) by.set(id, (list = []));
        list.push(r);
      }
    }
    const out: { spanId: string; requests: Received[] }[] = [];
    for (const [spanId, list] of by) {
      const counted = list.filter((r) => r.status === undefined || (r.status >= 200 && r.status < 300));
      if (counted.length > 1) out.push({ spanId, requests: counted });
    }
    return out;
  }

  /** Stops listening and destroys every connection (hung ones included). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Every span of an ExportTraceServiceRequest, flattened (empty for anything else). */
export function flattenSpans(payload: any): any[] {
  const out: any[] = [];
  if (!payload || !Array.isArray(payload.resourceSpans)) return out;
  for (const rs of payload.resourceSpans) {
    for (const ss of rs?.scopeSpans ?? []) {
      for (const s of ss?.spans ?? []) out.push(s);
    }
  }
  return out;
}

/** A port that was just open and is now closed: connecting to it is refused. */
/** Runs fn against a FakeReceiver answering with `plan`, and closes it whatever happens. */
export async function withReceiver(plan: Plan, fn: (rcv: FakeReceiver) => Promise<void>): Promise<void> {
  const rcv = await FakeReceiver.start(plan);
  try {
    await fn(rcv);
  } finally {
    await rcv.close();
  }
}

export async function refusedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
