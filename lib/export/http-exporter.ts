// The OTLP/HTTP exporter: one batch becomes one POST (or several, when a 413 asks for smaller
// ones), retried per ./retry.ts within the batch's time budget, a partial success read from the
// answer. It never rejects: whatever goes wrong costs the batch, is counted, and is reported once
// without any header value.
import type { ReadableSpan } from '../trace/span.js';
import type { Diagnostics } from '../util/diagnostics.js';
import { TransportError, type Transport, type TransportModule } from '../platform/transport.js';
import type { Platform } from '../platform/platform.js';
import { platform as defaultPlatform } from '../platform/node/index.js';
import { exportResult, type ExportBatch, type ExportResult, type SpanExporter } from './exporter.js';
import { RETRYABLE_STATUSES, backoffMillis, retryAfterMillis, sleep, type RetryPolicy } from './retry.js';
import { errorText } from '../util/text.js';

export interface HttpExporterOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
  retry: RetryPolicy;
  diagnostics: Diagnostics;
  /** Called with every distinct payload before it is first sent (the recorder); may return a promise. */
  onPayload?: (json: Uint8Array) => unknown;
  /** Where the transport comes from; the Node one unless a test says otherwise. */
  platform?: Platform;
}

/** One batch on its way: the time it may still take ends at `deadline` (ms, performance clock). */
interface Delivery {
  batch: ExportBatch;
  deadline: number;
}

export class HttpExporter implements SpanExporter {
  readonly #options: HttpExporterOptions;
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

  constructor(options: HttpExporterOptions) {
    this.#options = options;
    this.#url = new URL(options.url);
    this.#where = this.#url.origin + this.#url.pathname;
    this.#headers = { ...options.headers, 'content-type': 'application/json' };
    if (options.compression === 'gzip') this.#headers['content-encoding'] = 'gzip';
    this.#secrets = secretsOf(options.headers);
    // Loaded now, not when the first batch is due: that may be in a beforeExit flush, where a
    // module still loading would not hold the process open.
    this.#ready = (options.platform ?? defaultPlatform).loadTransport().then((transportModule) => {
      this.#transport = new transportModule.HttpTransport();
      this.#gzip = transportModule.gzip;
    });
    this.#ready.catch(() => undefined); // reported by the first export
  }

  /** Reports through diagnostics with every header value blanked out. */
  #warn(kind: string, message: string, spans: number): void {
    const redacted = this.#secrets.reduce((text, secret) => text.split(secret).join('[redacted]'), message);
    this.#options.diagnostics.warn(kind, redacted, spans);
  }

  export(batch: ExportBatch): Promise<ExportResult> {
    const count = batch.spans.length;
    const delivery: Delivery = { batch, deadline: performance.now() + this.#options.retry.maxBatchMillis };
    return this.#send(delivery, batch.spans, batch.encode()).catch((err: unknown) => {
      this.#warn('export-error', `export failed: ${errorText(err)}; ${count} spans failed`, count);
      return exportResult(0, 0, count);
    });
  }

  async #send(delivery: Delivery, spans: readonly ReadableSpan[], json: Uint8Array): Promise<ExportResult> {
    const count = spans.length;
    const { retry, timeoutMillis } = this.#options;
    const { batch } = delivery;
    const { signal } = batch;
    try {
      (this.#options.onPayload?.(json) as Promise<unknown> | undefined)?.catch?.(() => undefined);
    } catch {
      /* a failing recorder must not cost the export */
    }
    await this.#ready;
    const body = this.#options.compression === 'gzip' ? await this.#gzip!(json) : json;
    let problem = 'no attempt within the time budget';
    let attempts = 0;
    let outOfTime = false;
    while (!signal.aborted) {
      const left = delivery.deadline - performance.now();
      if (left <= 0) {
        outOfTime = true;
        break;
      }
      attempts++;
      let wait: number | undefined;
      try {
        const response = await this.#transport!.send({
          url: this.#url,
          body,
          headers: this.#headers,
          timeoutMillis: Math.min(timeoutMillis, Math.ceil(left)),
          signal,
        });
        batch.attempted(body.byteLength, attempts > 1);
        const status = response.status;
        if (status >= 200 && status < 300) {
          const rejected = this.#partiallyRejected(response.body, count);
          return exportResult(count - rejected, rejected, 0);
        }
        if (status === 413 && count > 1) return await this.#split(delivery, spans);
        if (!RETRYABLE_STATUSES.includes(status)) {
          const answer = `HTTP ${status}${oneLineTail(response.body)}`;
          const message = `${this.#where}: ${answer}; ${count} spans rejected (not retried)`;
          this.#warn(`http-${status}`, message, count);
          return exportResult(0, count, 0);
        }
        problem = `HTTP ${status}`;
        wait = retryAfterMillis(response.retryAfter, retry.maxRetryAfterMillis);
      } catch (err) {
        batch.attempted(0, attempts > 1);
        // (aborted at the shutdown deadline: the loop ends below, silently)
        problem = err instanceof TransportError ? err.message : errorText(err);
      }
      if (attempts >= retry.maxAttempts || signal.aborted) break;
      if (attempts === 1) {
        // Said at once, so a short-lived process learns why even if it exits before the last attempt.
        const more = retry.maxAttempts - 1;
        const attemptsLeft = `up to ${more} more attempt${more === 1 ? '' : 's'}`;
        const message = `${this.#where}: ${problem}; retrying ${count} spans (${attemptsLeft})`;
        this.#warn('export-retrying', message, 0);
      }
      wait ??= backoffMillis(attempts, retry);
      if (performance.now() + wait >= delivery.deadline) {
        outOfTime = true;
        break;
      }
      if (!(await sleep(wait, signal))) break;
    }
    if (!signal.aborted) {
      const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
      const why = outOfTime ? `${tries}, the batch's ${retry.maxBatchMillis} ms budget spent` : tries;
      const message = `could not deliver to ${this.#where}: ${problem} after ${why}; ${count} spans failed`;
      this.#warn('export-failed', message, count);
    }
    return exportResult(0, 0, count);
  }

  /** Too large for the receiver: halve and send each half (each may split again), in the same budget. */
  async #split(delivery: Delivery, spans: readonly ReadableSpan[]): Promise<ExportResult> {
    const total = exportResult(0, 0, 0);
    const half = Math.ceil(spans.length / 2);
    for (const part of [spans.slice(0, half), spans.slice(half)]) {
      const result = await this.#send(delivery, part, delivery.batch.encode(part));
      total.exported += result.exported;
      total.rejected += result.rejected;
      total.failed += result.failed;
    }
    return total;
  }

  /** rejectedSpans of a partialSuccess answer (0 when absent or unreadable); logs errorMessage. */
  #partiallyRejected(body: string, count: number): number {
    type Partial = {
      rejectedSpans?: unknown;
      rejected_spans?: unknown;
      errorMessage?: unknown;
      error_message?: unknown;
    };
    let partial: Partial | undefined;
    try {
      const doc = JSON.parse(body) as { partialSuccess?: Partial; partial_success?: Partial };
      partial = doc.partialSuccess ?? doc.partial_success;
    } catch {
      return 0; // empty, cut off, not JSON, null: a 2xx still means delivered
    }
    // int64 in proto3 JSON is a decimal string; accept a number too.
    const raw = Math.floor(Number(partial?.rejectedSpans ?? partial?.rejected_spans));
    const rejected = raw > 0 && raw < Infinity ? Math.min(count, raw) : 0;
    const message = partial?.errorMessage ?? partial?.error_message;
    if (rejected || message) {
      const text = `${this.#where} accepted ${count} spans partially: ${rejected} spans rejected`;
      this.#warn('partial-success', text + oneLineTail(message), rejected);
    }
    return rejected;
  }

  shutdown(): void {
    this.#transport?.close?.();
  }
}

/** ": text" on one line, at most 200 characters; nothing for an empty text. */
function oneLineTail(text: unknown): string {
  if (!text) return '';
  const line = String(text).replace(/\s+/g, ' ').trim();
  return `: ${line.length > 200 ? line.slice(0, 200) + '…' : line}`;
}

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
