// Exporters: what happens to one batch. The HTTP exporter owns the wire policy (retry with
// backoff and Retry-After, 413 split, partial success); the batcher owns queueing and counts.
import type { Span } from './span.js';
import type { Diagnostics } from './log.js';
import { FetchTransport, TransportError, unrefTimer, type Transport } from './transport.js';

export interface ExportBatch {
  readonly spans: readonly Span[];
  /** The ExportTraceServiceRequest JSON for these spans (or a subset, for 413 splits), as UTF-8. */
  encode(spans?: readonly Span[]): Uint8Array;
  /** Fires when shutdown's deadline passes: stop retrying, give up. */
  readonly signal: AbortSignal;
  /** Accounting hook: one call per HTTP attempt with the body size sent. */
  attempted(bytes: number, isRetry: boolean): void;
}

/** How the batch's spans ended up; the three add up to the batch size. */
export interface ExportResult {
  exported: number;
  rejected: number;
  failed: number;
}

export interface SpanExporter {
  export(batch: ExportBatch): Promise<ExportResult>;
  shutdown?(): Promise<void> | void;
}

/** Keeps every exported span and payload in memory: for tests and deterministic recordings. */
export class InMemoryExporter implements SpanExporter {
  readonly spans: Span[] = [];
  readonly payloads: string[] = [];
  private readonly decoder = new TextDecoder();

  export(batch: ExportBatch): Promise<ExportResult> {
    const body = batch.encode();
    batch.attempted(body.byteLength, false);
    for (const s of batch.spans) this.spans.push(s);
    this.payloads.push(this.decoder.decode(body));
    return Promise.resolve({ exported: batch.spans.length, rejected: 0, failed: 0 });
  }

  /** Every payload parsed: what a receiver would have seen. */
  parsed(): unknown[] {
    return this.payloads.map((p) => JSON.parse(p) as unknown);
  }

  reset(): void {
    this.spans.length = 0;
    this.payloads.length = 0;
  }
}

export interface RetryPolicy {
  /** Attempts per payload, the first included. */
  maxAttempts: number;
  initialBackoffMillis: number;
  maxBackoffMillis: number;
  /** A server's Retry-After is honoured up to this. */
  maxRetryAfterMillis: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMillis: 1000,
  maxBackoffMillis: 10_000,
  maxRetryAfterMillis: 30_000,
};

export interface HttpExporterOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
  retry: RetryPolicy;
  diagnostics: Diagnostics;
  /** Called with every distinct payload before it is first sent (the recorder); may return a promise. */
  onPayload?: (json: Uint8Array) => unknown;
  transport?: Transport;
}

const RETRYABLE = new Set([429, 502, 503, 504]);

export class HttpExporter implements SpanExporter {
  private readonly url: URL;
  /** Scheme, host and path only, for messages: never credentials, query or headers. */
  private readonly where: string;
  private readonly headers: Record<string, string>;
  private transport: Transport | Promise<Transport> | undefined;
  private gzip: ((b: Uint8Array) => Promise<Uint8Array>) | undefined;
  /** Header values (and their words), never to appear in a message, whatever a server echoes. */
  private readonly secrets: string[];

  constructor(private readonly opts: HttpExporterOptions) {
    this.url = new URL(opts.url);
    this.where = `${this.url.protocol}//${this.url.host}${this.url.pathname}`;
    this.headers = { ...opts.headers, 'content-type': 'application/json' };
    if (opts.compression === 'gzip') this.headers['content-encoding'] = 'gzip';
    this.transport = opts.transport;
    this.secrets = secretsOf(opts.headers);
    // Load the Node transport (and zlib) now, not when the first batch is due: that may be in
    // a beforeExit flush, where a module still loading would not hold the process open.
    if (this.transport === undefined && isNode()) void this.getTransport();
    if (opts.compression === 'gzip') this.compress(new Uint8Array(0)).catch(() => undefined);
  }

  /** Reports through diagnostics with every header value blanked out. */
  private warn(kind: string, message: string, spans: number): void {
    this.opts.diagnostics.warn(kind, redact(message, this.secrets), spans);
  }

  private getTransport(): Transport | Promise<Transport> {
    // The Node transport (HTTP/1.1 over net/tls, keep-alive, one write) where it loads, fetch elsewhere.
    this.transport ??= isNode()
      ? import('./transport-node.js').then((m) => (this.transport = new m.NodeHttpTransport()), () => (this.transport = new FetchTransport()))
      : new FetchTransport();
    return this.transport;
  }

  private async compress(data: Uint8Array): Promise<Uint8Array> {
    if (!this.gzip) {
      if (isNode()) this.gzip = (await import('./transport-node.js')).gzip;
      else this.gzip = webGzip;
    }
    return this.gzip(data);
  }

  export(batch: ExportBatch): Promise<ExportResult> {
    const n = batch.spans.length;
    // Never reject: whatever goes wrong (encoding, compression, a transport bug) costs this
    // batch, is counted, and is reported without header values.
    return this.sendPayload(batch, batch.spans, batch.encode()).catch((err: unknown) => {
      this.warn('export-error', `exporting a batch failed: ${describeError(err)}; ${n} spans failed`, n);
      return { exported: 0, rejected: 0, failed: n };
    });
  }

  private async sendPayload(batch: ExportBatch, spans: readonly Span[], json: Uint8Array): Promise<ExportResult> {
    const n = spans.length;
    try {
      const p = this.opts.onPayload?.(json) as { then?: unknown; catch?: (f: () => void) => void } | undefined;
      if (p && typeof p.then === 'function' && typeof p.catch === 'function') p.catch(() => undefined);
    } catch {
      /* a failing recorder must not cost the export */
    }
    const body = this.opts.compression === 'gzip' ? await this.compress(json) : json;
    const { retry } = this.opts;
    let lastProblem = '';
    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      if (batch.signal.aborted) break;
      batch.attempted(body.byteLength, attempt > 1);
      let wait = -1;
      try {
        const transport = await this.getTransport();
        const res = await transport.send({
          url: this.url,
          body,
          headers: this.headers,
          timeoutMillis: this.opts.timeoutMillis,
          signal: batch.signal,
        });
        if (res.status >= 200 && res.status < 300) {
          const rejected = Math.min(n, this.partialRejected(res.body, n));
          return { exported: n - rejected, rejected, failed: 0 };
        }
        if (res.status === 413 && n > 1) {
          // Too large for the receiver: halve and send each half (each may split again).
          const half = Math.ceil(n / 2);
          const a = spans.slice(0, half);
          const b = spans.slice(half);
          const ra = await this.sendPayload(batch, a, batch.encode(a));
          const rb = await this.sendPayload(batch, b, batch.encode(b));
          return { exported: ra.exported + rb.exported, rejected: ra.rejected + rb.rejected, failed: ra.failed + rb.failed };
        }
        if (!RETRYABLE.has(res.status)) {
          this.warn(
            `http-${res.status}`,
            `${this.where} rejected a batch with HTTP ${res.status}${snippet(res.body)}; ${n} spans rejected (not retried)`,
            n,
          );
          return { exported: 0, rejected: n, failed: 0 };
        }
        lastProblem = `HTTP ${res.status}`;
        wait = retryAfterMillis(res.retryAfter, retry.maxRetryAfterMillis);
      } catch (err) {
        if (err instanceof TransportError && err.kind === 'aborted') break;
        lastProblem = err instanceof TransportError ? (err.kind === 'timeout' ? `timeout (${err.message})` : err.message) : String(err);
      }
      if (attempt === retry.maxAttempts) break;
      if (wait < 0) wait = backoff(attempt, retry);
      if (!(await sleep(wait, batch.signal))) break;
    }
    if (batch.signal.aborted) return { exported: 0, rejected: 0, failed: n };
    this.warn('export-failed', `could not deliver to ${this.where}: ${lastProblem} after ${retry.maxAttempts} attempt${retry.maxAttempts === 1 ? '' : 's'}; ${n} spans failed`, n);
    return { exported: 0, rejected: 0, failed: n };
  }

  /** rejectedSpans of a partialSuccess answer (0 when absent or unreadable); logs errorMessage. */
  private partialRejected(body: string, n: number): number {
    if (!body || (body.indexOf('partialSuccess') < 0 && body.indexOf('partial_success') < 0)) return 0;
    let ps: { rejectedSpans?: unknown; rejected_spans?: unknown; errorMessage?: unknown; error_message?: unknown } | undefined;
    try {
      const parsed = JSON.parse(body) as { partialSuccess?: typeof ps; partial_success?: typeof ps } | null;
      ps = parsed?.partialSuccess ?? parsed?.partial_success ?? undefined;
    } catch {
      return 0; // cut off or not JSON: a 2xx still means delivered
    }
    if (ps === null || typeof ps !== 'object') return 0;
    // int64 in proto3 JSON is a decimal string; accept a number too.
    const raw = Number(ps.rejectedSpans ?? ps.rejected_spans ?? 0);
    const count = Number.isFinite(raw) && raw > 0 ? Math.min(n, Math.floor(raw)) : 0;
    const message = ps.errorMessage ?? ps.error_message;
    if (count > 0 || message) {
      this.warn(
        'partial-success',
        `${this.where} accepted a batch of ${n} spans partially: ${count} spans rejected${message ? `: ${oneLine(String(message))}` : ''}`,
        count,
      );
    }
    return count;
  }

  shutdown(): void {
    const t = this.transport;
    if (t && !(t instanceof Promise)) t.close?.();
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? t.slice(0, 200) + '…' : t;
}

function snippet(body: string): string {
  return body ? `: ${oneLine(body)}` : '';
}

/** Retry-After as seconds or an HTTP date, in ms, capped; -1 when absent or unreadable. */
export function retryAfterMillis(value: string | null, cap: number, now = Date.now()): number {
  if (!value) return -1;
  const v = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return -1;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, cap);
}

/** Exponential backoff with full jitter between half and the whole step. */
export function backoff(attempt: number, p: RetryPolicy): number {
  const step = Math.min(p.maxBackoffMillis, p.initialBackoffMillis * 2 ** (attempt - 1));
  return step / 2 + Math.random() * (step / 2);
}

/** Resolves true after ms, or false at once when the signal fires; never holds the process open. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    unref(t);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export const unref: (t: unknown) => void = unrefTimer;

const AUTH_SCHEMES = /^(bearer|basic|digest|negotiate|token|apikey)$/i;

/** Every header value, and each word of it (a server may echo just the token of "Bearer <token>"). */
export function secretsOf(headers: Record<string, string>): string[] {
  const out = new Set<string>();
  for (const v of Object.values(headers)) {
    if (typeof v !== 'string') continue;
    const value = v.trim();
    if (value.length >= 4) out.add(value);
    for (const word of value.split(/\s+/)) if (word.length >= 6 && !AUTH_SCHEMES.test(word)) out.add(word);
  }
  // Longest first, so a whole value is blanked before one of its words.
  return [...out].sort((a, b) => b.length - a.length);
}

/** The message with every secret replaced by [redacted]. */
export function redact(message: string, secrets: readonly string[]): string {
  let m = message;
  for (const s of secrets) if (m.includes(s)) m = m.split(s).join('[redacted]');
  return m;
}

function describeError(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return 'unknown error';
  }
}

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

async function webGzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
