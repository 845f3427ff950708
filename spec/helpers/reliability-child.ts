// Child process for spec/reliability.spec.ts, run as
//   node --expose-gc --import tsx spec/helpers/reliability-child.ts <mode> <endpoint> [n]
// so heap figures are measured after real GCs, away from the test runner's own allocations,
// and so process exit can be observed. Prints one JSON line on stdout.
//   memory-down  <endpoint> <n>  n requests while the endpoint refuses connections (default limits)
//   huge-body    <endpoint> <n>  n batches, each answered by a 50 MB response body
//   no-shutdown  <endpoint> [timeoutMillis]  one request, no shutdown: the process must exit on
//                                its own; prints the stats and every diagnostic line at exit
import { OtlpTracingMiddleware, type RequestDTO } from '../../lib/index.ts';

const [mode, endpoint, nArg] = process.argv.slice(2) as [string, string, string | undefined];
const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

function dto(i: number): RequestDTO {
  const h = (0x5a000000 + i).toString(16).padStart(32, '0');
  return {
    route_key: 'tracker.log_request',
    span_key: {
      trace_id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
      span_id: 'b' + (i % 0xfffffff).toString(16).padStart(15, '0'),
    },
    data: { i },
  };
}

async function one(mw: OtlpTracingMiddleware, i: number): Promise<void> {
  const d = dto(i);
  await mw.beforeRouting({ protocolDto: d });
  await mw.afterRouting({ protocolDto: d, responseDto: { ok: true } });
}

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));
const MB = 1024 * 1024;

async function memoryDown(): Promise<void> {
  const n = Number(nArg ?? 300_000);
  const lines: string[] = [];
  // Default limits: maxQueueSize 2048, maxExportBatchSize 512, default retry policy.
  const logger = (m: string) => void lines.push(m);
  const mw = new OtlpTracingMiddleware({ endpoint, logger, shutdownTimeoutMillis: 300 });
  await one(mw, -1); // load everything (transport, encoder) before the baseline
  const empty = heap();
  let i = 0;
  for (; i < 10_000; i++) {
    await one(mw, i);
    if (i % 1000 === 999) await yieldLoop();
  }
  const full = heap(); // queue full, two batches in flight
  const t0 = performance.now();
  for (; i < n; i++) {
    await one(mw, i);
    if (i % 1000 === 999) await yieldLoop(); // let the exporter run between bursts
  }
  const hookMs = performance.now() - t0;
  const after = heap();
  const stats = mw.stats();
  const t1 = performance.now();
  await mw.shutdown();
  const shutdownMs = performance.now() - t1;
  const final = mw.stats();
  process.stdout.write(
    JSON.stringify({
      n: n + 1,
      empty,
      full,
      after,
      deltaFromEmptyMB: (after - empty) / MB,
      deltaFromFullMB: (after - full) / MB,
      hookMs,
      stats,
      final,
      shutdownMs,
      lines,
    }) + '\n',
  );
}

async function hugeBody(): Promise<void> {
  const n = Number(nArg ?? 3);
  const lines: string[] = [];
  const logger = (m: string) => void lines.push(m);
  const mw = new OtlpTracingMiddleware({ endpoint, logger, scheduledDelayMillis: 60_000, timeoutMillis: 10_000 });
  await one(mw, -1);
  await mw.forceFlush();
  const base = heap();
  const baseAll = process.memoryUsage();
  let peak = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    const d = m.heapUsed + m.arrayBuffers - (baseAll.heapUsed + baseAll.arrayBuffers);
    if (d > peak) peak = d;
  };
  const sampler = setInterval(sample, 2);
  const t0 = performance.now();
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < 10; i++) await one(mw, b * 10 + i);
    await mw.forceFlush();
    sample();
  }
  const exportMs = performance.now() - t0;
  clearInterval(sampler);
  const after = heap();
  await mw.shutdown();
  process.stdout.write(
    JSON.stringify({
      batches: n,
      exportMs,
      peakDeltaMB: peak / MB,
      deltaAfterGcMB: (after - base) / MB,
      stats: mw.stats(),
      lines,
    }) + '\n',
  );
}

function noShutdown(): void {
  const lines: string[] = [];
  const timeoutMillis = Number(nArg ?? 2000);
  const mw = new OtlpTracingMiddleware({ endpoint, logger: (m: string) => void lines.push(m), timeoutMillis });
  const started = performance.now();
  // Registered after the tracer's own exit handler, so it sees what that one reports.
  process.on('exit', () => {
    process.stdout.write(JSON.stringify({ stats: mw.stats(), aliveMs: performance.now() - started, lines }) + '\n');
  });
  void one(mw, 1);
  // No shutdown, no forceFlush: the batch timer is unref'd, so only beforeExit sends the span.
}

switch (mode) {
  case 'memory-down':
    await memoryDown();
    break;
  case 'huge-body':
    await hugeBody();
    break;
  case 'no-shutdown':
    noShutdown();
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exitCode = 2;
}
