// The batch processor on its own, with an exporter the test controls: the queue cap and exact
// drop counts, batch size, at most two batches in flight, what a flush waits for, the shutdown
// deadline, and counts that add up whatever the exporter reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchProcessor, type ExportStats } from '../../lib/export/batcher.ts';
import type { ExportBatch, ExportResult, SpanExporter } from '../../lib/export/exporter.ts';
import type { Span } from '../../lib/trace/span.ts';
import type { Diagnostics } from '../../lib/util/diagnostics.ts';
import { failOnUnhandled } from '../helpers/no-unhandled.ts';

failOnUnhandled();

/** Stand-ins for spans: the batcher only queues and hands them over. */
const spanNo = (i: number): Span => ({ i }) as unknown as Span;
const numbers = (spans: readonly object[]): number[] => spans.map((s) => (s as { i?: number }).i!);

/** An exporter whose batches settle when the test says so. */
class HeldExporter implements SpanExporter {
  readonly batches: { spans: number[]; batch: ExportBatch; settle(r: ExportResult): void }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  shutdowns = 0;
  constructor(readonly shutdownNever = false) {}

  export(batch: ExportBatch): Promise<ExportResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) => {
      this.batches.push({
        spans: numbers(batch.spans),
        batch,
        settle: (r) => {
          this.inFlight--;
          resolve(r);
        },
      });
    });
  }

  /** Settles the oldest unsettled batch as all exported. */
  settleNext(): void {
    const next = this.batches.find((b) => !(b as { done?: boolean }).done)!;
    (next as { done?: boolean }).done = true;
    next.settle({ exported: next.spans.length, rejected: 0, failed: 0 });
  }

  shutdown(): Promise<void> {
    this.shutdowns++;
    return this.shutdownNever ? new Promise(() => undefined) : Promise.resolve();
  }
}

function diagnostics(): Diagnostics & { lines: [string, string, number][] } {
  const lines: [string, string, number][] = [];
  return { lines, warn: (kind, message, spans = 0) => void lines.push([kind, message, spans]), flush: () => undefined };
}

interface Limits {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis?: number;
}

function batcher(exporter: SpanExporter, config: Limits) {
  const diag = diagnostics();
  const encoded: number[][] = [];
  const b = new BatchProcessor({
    config: { scheduledDelayMillis: 60_000, ...config },
    exporter,
    reusableBodies: false,
    encode: (spans) => {
      encoded.push(numbers(spans));
      return new Uint8Array(spans.length);
    },
    diagnostics: diag,
  });
  return { b, diag, encoded };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function addsUp(s: ExportStats): void {
  assert.equal(s.exported + s.dropped + s.rejected + s.failed + s.queued + s.inFlight, s.ended, JSON.stringify(s));
}

function counts(s: ExportStats) {
  const { ended, queued, inFlight, exported, dropped, rejected, failed } = s;
  return { ended, queued, inFlight, exported, dropped, rejected, failed };
}

test('queue cap: spans beyond it are dropped, counted exactly, and reported once off the request path', async () => {
  const exporter = new HeldExporter();
  const { b, diag } = batcher(exporter, { maxQueueSize: 10, maxExportBatchSize: 4 });
  for (let i = 0; i < 30; i++) b.add(spanNo(i));
  // Synchronous adds: 10 accepted, 20 dropped, nothing reported yet, nothing sent yet.
  assert.deepEqual(counts(b.stats()), {
    ended: 30, queued: 10, inFlight: 0, exported: 0, dropped: 20, rejected: 0, failed: 0,
  });
  assert.deepEqual(diag.lines, []);
  await tick(); // the pump: two full batches go out, the drops are reported
  assert.deepEqual(counts(b.stats()), {
    ended: 30, queued: 2, inFlight: 8, exported: 0, dropped: 20, rejected: 0, failed: 0,
  });
  assert.deepEqual(exporter.batches.map((x) => x.spans), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  const report = 'export queue full (10 spans), endpoint too slow; 20 spans dropped';
  assert.deepEqual(diag.lines, [['queue-full', report, 20]]);
  // Room again for exactly 8 spans while two batches are out.
  for (let i = 30; i < 40; i++) b.add(spanNo(i));
  assert.deepEqual(counts(b.stats()), {
    ended: 40, queued: 10, inFlight: 8, exported: 0, dropped: 22, rejected: 0, failed: 0,
  });
  addsUp(b.stats());
  await b.shutdown(50);
});

test('batch size, at most two in flight, and a flush that sends the partial tail', async () => {
  const exporter = new HeldExporter();
  const { b, encoded } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 4 });
  for (let i = 0; i < 14; i++) b.add(spanNo(i));
  let flushed = false;
  const flush = b.forceFlush().then(() => (flushed = true));
  await tick();
  assert.deepEqual(exporter.batches.map((x) => x.spans), [[0, 1, 2, 3], [4, 5, 6, 7]], 'two at most in flight');
  for (let round = 0; round < 3; round++) {
    exporter.settleNext();
    await tick();
  }
  exporter.settleNext();
  await tick();
  assert.deepEqual(exporter.batches.map((x) => x.spans), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13]]);
  assert.equal(exporter.maxInFlight, 2);
  assert.deepEqual(encoded, [], 'the exporter asks for bodies; the batcher encodes nothing by itself');
  await flush;
  assert.equal(flushed, true);
  assert.deepEqual(counts(b.stats()), {
    ended: 14, queued: 0, inFlight: 0, exported: 14, dropped: 0, rejected: 0, failed: 0,
  });
  await b.shutdown(50);
});

test('a flush waits for what was queued before it, not for later spans', async () => {
  const exporter = new HeldExporter();
  const { b } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 4 });
  for (let i = 0; i < 3; i++) b.add(spanNo(i));
  let flushed = false;
  const flush = b.forceFlush().then(() => (flushed = true));
  for (let i = 3; i < 6; i++) b.add(spanNo(i)); // after the mark
  await tick();
  assert.deepEqual(exporter.batches.map((x) => x.spans), [[0, 1, 2]]);
  exporter.settleNext();
  await flush;
  assert.equal(flushed, true);
  assert.deepEqual(counts(b.stats()), {
    ended: 6, queued: 3, inFlight: 0, exported: 3, dropped: 0, rejected: 0, failed: 0,
  });
  await b.shutdown(50);
});

test('the scheduled delay sends a partial batch on its own', async () => {
  const exporter = new HeldExporter();
  const { b } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 512, scheduledDelayMillis: 20 });
  b.add(spanNo(1));
  b.add(spanNo(2));
  for (let i = 0; i < 100 && exporter.batches.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(exporter.batches.map((x) => x.spans), [[1, 2]]);
  exporter.settleNext();
  await b.shutdown(50);
  assert.equal(b.stats().exported, 2);
});

test('shutdown deadline: met though exporter shutdown never settles, in flight failed, queued dropped', async () => {
  const exporter = new HeldExporter(true);
  const { b, diag } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 4 });
  for (let i = 0; i < 10; i++) b.add(spanNo(i));
  await tick();
  const t0 = performance.now();
  await b.shutdown(150);
  const took = performance.now() - t0;
  assert.ok(took >= 140 && took < 600, `shutdown took ${took.toFixed(0)} ms for a 150 ms deadline`);
  assert.deepEqual(counts(b.stats()), {
    ended: 10, queued: 0, inFlight: 0, exported: 0, dropped: 2, rejected: 0, failed: 8,
  });
  assert.equal(exporter.batches[0]!.batch.signal.aborted, true, 'the exporter is told to give up');
  assert.equal(exporter.shutdowns, 1);
  const report =
    'shutdown deadline passed with 2 spans still queued (dropped) and 8 spans in flight (counted as failed)';
  assert.deepEqual(diag.lines, [['shutdown', report, 10]]);
  // A batch that settles after the deadline changes nothing; spans after shutdown are dropped.
  exporter.settleNext();
  await tick();
  b.add(spanNo(99));
  assert.deepEqual(counts(b.stats()), {
    ended: 11, queued: 0, inFlight: 0, exported: 0, dropped: 3, rejected: 0, failed: 8,
  });
  const again = await Promise.race([b.shutdown(150).then(() => 'at once'), tick().then(() => 'later')]);
  assert.equal(again, 'at once', 'idempotent');
});

test('whatever the exporter reports, each span is counted once; a throwing exporter fails its batch', async () => {
  const results: unknown[] = [
    { exported: 3, rejected: 0, failed: 0 }, // too many: clamped to the batch
    { exported: 1, rejected: 5, failed: 0 }, // rejected clamped to what is left
    { exported: Number.NaN, rejected: '2', failed: -1 }, // nonsense: all failed
  ];
  let call = 0;
  const exporter: SpanExporter = {
    export: (batch) => {
      if (call === results.length) throw new Error('exporter bug');
      batch.attempted(100, call > 0);
      return Promise.resolve(results[call++] as ExportResult);
    },
  };
  const { b, diag } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 2 });
  for (let i = 0; i < 8; i++) b.add(spanNo(i));
  await b.forceFlush();
  const s = b.stats();
  assert.deepEqual(counts(s), { ended: 8, queued: 0, inFlight: 0, exported: 3, dropped: 0, rejected: 1, failed: 4 });
  assert.equal(s.bytesSent, 300);
  assert.equal(s.retries, 2);
  assert.deepEqual(diag.lines, [['exporter-error', 'exporter failed: Error: exporter bug; 2 spans failed', 2]]);
  addsUp(s);
  await b.shutdown(50);
});

test('abandon (process exit): what is queued or in flight is counted as lost and reported at once', async () => {
  const exporter = new HeldExporter();
  const { b, diag } = batcher(exporter, { maxQueueSize: 100, maxExportBatchSize: 4 });
  for (let i = 0; i < 6; i++) b.add(spanNo(i));
  await tick();
  b.abandon();
  assert.deepEqual(counts(b.stats()), {
    ended: 6, queued: 0, inFlight: 0, exported: 0, dropped: 2, rejected: 0, failed: 4,
  });
  const report = 'process exiting with 2 spans still queued (dropped) and 4 spans in flight (counted as failed)';
  assert.deepEqual(diag.lines, [['shutdown', report, 6]]);
  await b.shutdown(50);
});

test('an exporter that throws a value String() cannot print fails its batch, reported, never unhandled', async () => {
  const exporter: SpanExporter = {
    export: () => {
      throw Object.create(null);
    },
  };
  const { b, diag } = batcher(exporter, { maxQueueSize: 10, maxExportBatchSize: 2 });
  b.add(spanNo(0));
  b.add(spanNo(1));
  await b.forceFlush();
  const expected = { ended: 2, queued: 0, inFlight: 0, exported: 0, dropped: 0, rejected: 0, failed: 2 };
  assert.deepEqual(counts(b.stats()), expected);
  assert.deepEqual(diag.lines, [['exporter-error', 'exporter failed: unknown error; 2 spans failed', 2]]);
  await b.shutdown(50);
});
