// What an exporter is: it receives one batch at a time and says how its spans ended up. The
// batcher owns queueing and the counts; the built-in HTTP exporter (./http-exporter.ts) owns the
// wire policy. InMemoryExporter keeps everything, for tests and deterministic recordings.
import type { ReadableSpan } from '../trace/span.js';

export interface ExportBatch {
  readonly spans: readonly ReadableSpan[];
  /** The ExportTraceServiceRequest JSON for these spans (or a subset, for 413 splits), as UTF-8. */
  encode(spans?: readonly ReadableSpan[]): Uint8Array;
  /** Fires when shutdown's deadline passes: stop retrying, give up. */
  readonly signal: AbortSignal;
  /**
   * Accounting hook, one call per attempt. `bytes`: the body size as sent when the attempt got a
   * response (any status); 0 when it got none (refused, reset, timed out): those bytes may never
   * have arrived, so stats.bytesSent leaves them out.
   */
  attempted(bytes: number, isRetry: boolean): void;
}

/** How the batch's spans ended up; the three add up to the batch size. */
export interface ExportResult {
  exported: number;
  rejected: number;
  failed: number;
}

export function exportResult(exported: number, rejected: number, failed: number): ExportResult {
  return { exported, rejected, failed };
}

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
    for (const span of batch.spans) this.spans.push(span);
    this.payloads.push(new TextDecoder().decode(body));
    return Promise.resolve(exportResult(batch.spans.length, 0, 0));
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

// The retry policy is configured with the exporter's other options (lib/config reads it from here).
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
