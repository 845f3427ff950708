// Exporters: what happens to one batch. The HTTP exporter owns the wire policy (retry with
// backoff and Retry-After, 413 split, partial success); the batcher owns queueing and counts.
import type { Span } from './span.js';
import type { Diagnostics } from './log.js';
import { FetchTransport, TransportError, type Transport } from './transport.js';

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
  /** Called with every distinct payload before it is first sent (the recorder). */
  onPayload?: (json: Uint8Array) => void;
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

  constructor(private readonly opts: HttpExporterOptions) {
    this.url = new URL(opts.url);
    this.where = `${this.url.protocol}//${this.url.host}${this.url.pathname}`;
    this.headers = { ...opts.headers, 'content-type': 'application/json' };
    if (opts.compression === 'gzip') this.headers['content-encoding'] = 'gzip';
    this.transport = opts.transport;
  }

  private getTransport(): Transport | Promise<Transport> {
    // node:http where it exists (keep-alive, one write), fetch elsewhere.
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
    return this.sendPayload(batch, batch.spans, batch.encode());
  }

  private async sendPayload(batch: ExportBatch, spans: readonly Span[], json: Uint8Array): Promise<ExportResult> {
    const n = spans.length;
    const d = this.opts.diagnostics;
    try {
      this.opts.onPayload?.(json);
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
          const rejected = Math.min(n, partialRejected(res.body, d, this.where));
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
          d.warn(
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
    d.warn('export-failed', `could not deliver to ${this.where}: ${lastProblem} after ${retry.maxAttempts} attempts; ${n} spans failed`, n);
    return { exported: 0, rejected: 0, failed: n };
  }

  shutdown(): void {
    const t = this.transport;
    if (t && !(t instanceof Promise)) t.close?.();
  }
}

/** rejectedSpans of a partialSuccess answer (0 when absent or unreadable); logs errorMessage. */
function partialRejected(body: string, d: Diagnostics, where: string): number {
  if (!body || body.indexOf('partialSuccess') < 0) return 0;
  try {
    const ps = (JSON.parse(body) as { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: unknown } }).partialSuccess;
    const rejected = Number(ps?.rejectedSpans ?? 0);
    const count = Number.isFinite(rejected) && rejected > 0 ? Math.floor(rejected) : 0;
    if (count > 0 || ps?.errorMessage) {
      d.warn('partial-success', `${where} accepted a batch partially: ${count} spans rejected${ps?.errorMessage ? `: ${oneLine(String(ps.errorMessage))}` : ''}`, count);
    }
    return count;
  } catch {
    return 0; // cut off or not JSON: a 2xx still means delivered
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

export function unref(t: unknown): void {
  const timer = t as { unref?: () => void } | number;
  if (typeof timer === 'object' && timer !== null && typeof timer.unref === 'function') timer.unref();
  else if (typeof timer === 'number') {
    const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
    deno?.unrefTimer?.(timer);
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
