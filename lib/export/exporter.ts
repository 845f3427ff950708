// Exporters: what happens to one batch. The HTTP exporter owns the wire policy (retry with
// backoff and Retry-After, 413 split, partial success); the batcher owns queueing and counts.
import type { ReadableSpan } from '../trace/span.js';
import type { Diagnostics } from '../util/diagnostics.js';
import { TransportError, unrefTimer, type Transport, type TransportModule } from '../platform/transport.js';

export interface ExportBatch {
  readonly spans: readonly ReadableSpan[];
  /** The ExportTraceServiceRequest JSON for these spans (or a subset of them, for 413 splits), as UTF-8. */
  encode(spans?: readonly ReadableSpan[]): Uint8Array;
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

const result = (exported: number, rejected: number, failed: number): ExportResult => ({ exported, rejected, failed });

export interface SpanExporter {
  export(batch: ExportBatch): Promise<ExportResult>;
  shutdown?(): Promise<void> | void;
}

/** Keeps every exported span and payload in memory: for tests and deterministic recordings. */
export class InMemoryExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  readonly payloads: string[] = [];

  export(batch: ExportBatch): Promise<ExportResult> {
    const body = batch.encode();
    batch.attempted(body.byteLength, false);
    for (const s of batch.spans) this.spans.push(s);
    this.payloads.push(new TextDecoder().decode(body));
    return Promise.resolve(result(batch.spans.length, 0, 0));
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
}

const RETRYABLE = [429, 502, 503, 504];

export class HttpExporter implements SpanExporter {
  readonly #o: HttpExporterOptions;
  readonly #url: URL;
  /** Scheme, host and path only, for messages: never credentials, query or headers. */
  readonly #where: string;
  readonly #headers: Record<string, string>;
  /** Header values (and their words), never to appear in a message, whatever a server echoes. */
  readonly #secrets: string[];
  /** Settles once `#transport` (and `#gzip`) are loaded. */
  readonly #ready: Promise<void>;
  #transport: Transport | undefined;
  #gzip: TransportModule['gzip'] | undefined;

  constructor(o: HttpExporterOptions) {
    this.#o = o;
    this.#url = new URL(o.url);
    this.#where = this.#url.origin + this.#url.pathname;
    this.#headers = { ...o.headers, 'content-type': 'application/json' };
    if (o.compression === 'gzip') this.#headers['content-encoding'] = 'gzip';
    this.#secrets = secretsOf(o.headers);
    // package.json "browser" swaps ./transport-node.js (net/tls, zlib) for ./transport-fetch.js
    // (fetch, CompressionStream) in bundles for browsers and workers.
    // Load it now, not when the first batch is due: that may
    // be in a beforeExit flush, where a module still loading would not hold the process open.
    this.#ready = import('../platform/node/transport.js').then((m: TransportModule) => {
      this.#transport = new m.HttpTransport();
      this.#gzip = m.gzip;
    });
    this.#ready.catch(() => undefined); // reported by the first export
  }

  /** Reports through diagnostics with every header value blanked out. */
  #warn(kind: string, message: string, spans: number): void {
    this.#o.diagnostics.warn(kind, this.#secrets.reduce((m, s) => m.split(s).join('[redacted]'), message), spans);
  }

  export(batch: ExportBatch): Promise<ExportResult> {
    const n = batch.spans.length;
    // Never reject: whatever goes wrong (encoding, compression, a transport bug) costs this
    // batch, is counted, and is reported without header values.
    return this.#send(batch, batch.spans, batch.encode()).catch((err: unknown) => {
      this.#warn('export-error', `export failed: ${describeError(err)}; ${n} spans failed`, n);
      return result(0, 0, n);
    });
  }

  async #send(batch: ExportBatch, spans: readonly ReadableSpan[], json: Uint8Array): Promise<ExportResult> {
    const n = spans.length;
    const { retry, timeoutMillis } = this.#o;
    const { signal } = batch;
    try {
      (this.#o.onPayload?.(json) as Promise<unknown> | undefined)?.catch?.(() => undefined);
    } catch {
      /* a failing recorder must not cost the export */
    }
    await this.#ready;
    const body = this.#o.compression === 'gzip' ? await this.#gzip!(json) : json;
    let problem = '';
    for (let attempt = 1; !signal.aborted; attempt++) {
      batch.attempted(body.byteLength, attempt > 1);
      let wait = -1;
      try {
        const res = await this.#transport!.send({ url: this.#url, body, headers: this.#headers, timeoutMillis, signal });
        const status = res.status;
        if (status >= 200 && status < 300) {
          const rejected = this.#partiallyRejected(res.body, n);
          return result(n - rejected, rejected, 0);
        }
        if (status === 413 && n > 1) {
          // Too large for the receiver: halve and send each half (each may split again).
          const total = result(0, 0, 0);
          const half = Math.ceil(n / 2);
          for (const part of [spans.slice(0, half), spans.slice(half)]) {
            const r = await this.#send(batch, part, batch.encode(part));
            for (const k in r) total[k as keyof ExportResult] += r[k as keyof ExportResult];
          }
          return total;
        }
        if (!RETRYABLE.includes(status)) {
          this.#warn(`http-${status}`, `${this.#where}: HTTP ${status}${tail(res.body)}; ${n} spans rejected (not retried)`, n);
          return result(0, n, 0);
        }
        problem = `HTTP ${status}`;
        wait = retryAfterMillis(res.retryAfter, retry.maxRetryAfterMillis);
      } catch (err) {
        // (aborted at the shutdown deadline: the loop ends below, silently)
        problem = err instanceof TransportError ? err.message : describeError(err);
      }
      if (attempt >= retry.maxAttempts || !(await sleep(wait < 0 ? backoff(attempt, retry) : wait, signal))) break;
    }
    if (!signal.aborted) {
      const tries = retry.maxAttempts;
      this.#warn('export-failed', `could not deliver to ${this.#where}: ${problem} after ${tries} attempt${tries === 1 ? '' : 's'}; ${n} spans failed`, n);
    }
    return result(0, 0, n);
  }

  /** rejectedSpans of a partialSuccess answer (0 when absent or unreadable); logs errorMessage. */
  #partiallyRejected(body: string, n: number): number {
    type Partial = { rejectedSpans?: unknown; rejected_spans?: unknown; errorMessage?: unknown; error_message?: unknown };
    let ps: Partial | undefined;
    try {
      const doc = JSON.parse(body) as { partialSuccess?: Partial; partial_success?: Partial };
      ps = doc.partialSuccess ?? doc.partial_success;
    } catch {
      return 0; // empty, cut off, not JSON, null: a 2xx still means delivered
    }
    // int64 in proto3 JSON is a decimal string; accept a number too.
    const raw = Math.floor(Number(ps?.rejectedSpans ?? ps?.rejected_spans));
    const count = raw > 0 && raw < Infinity ? Math.min(n, raw) : 0;
    const message = ps?.errorMessage ?? ps?.error_message;
    if (count || message) {
      this.#warn('partial-success', `${this.#where} accepted ${n} spans partially: ${count} spans rejected${tail(message)}`, count);
    }
    return count;
  }

  shutdown(): void {
    this.#transport?.close?.();
  }
}

/** ": text" on one line, at most 200 characters; nothing for an empty text. */
function tail(text: unknown): string {
  if (!text) return '';
  const t = String(text).replace(/\s+/g, ' ').trim();
  return `: ${t.length > 200 ? t.slice(0, 200) + '…' : t}`;
}

/** Retry-After as seconds or an HTTP date, in ms, capped; -1 when absent or unreadable. */
function retryAfterMillis(value: string | null, cap: number): number {
  if (!value) return -1;
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? -1 : Math.min(Math.max(0, ms), cap);
}

/** Exponential backoff with full jitter between half and the whole step. */
function backoff(attempt: number, p: RetryPolicy): number {
  const step = Math.min(p.maxBackoffMillis, p.initialBackoffMillis * 2 ** (attempt - 1));
  return step / 2 + Math.random() * (step / 2);
}

/** Resolves true after ms, or false at once when the signal fires; never holds the process open. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (slept: boolean): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = (): void => done(false);
    const t = setTimeout(done, ms, true);
    unrefTimer(t);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A timer that does not hold the process open (the batcher's and tracer's timers). */
export { unrefTimer as unref } from '../platform/transport.js';

const AUTH_SCHEMES = /^(bearer|basic|digest|negotiate|token|apikey)$/i;

/** Every header value, and each word of it (a server may echo just the token of "Bearer <token>"). */
function secretsOf(headers: Record<string, string>): string[] {
  const out = new Set<string>();
  for (const v of Object.values(headers)) {
    const value = String(v).trim();
    if (value.length >= 4) out.add(value);
    for (const word of value.split(/\s+/)) if (word.length >= 6 && !AUTH_SCHEMES.test(word)) out.add(word);
  }
  // Longest first, so a whole value is blanked before one of its words.
  return [...out].sort((a, b) => b.length - a.length);
}

function describeError(err: unknown): string {
  try {
    return String(err); // "Name: message" for an Error
  } catch {
    return 'unknown error';
  }
}

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}
