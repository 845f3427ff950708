// One benchmark measurement in a fresh process; prints one JSON line. Started by run.ts:
//   node --import tsx spec/bench/worker.ts <mode> <sink url> [n]
// Modes: request | floor | encode | throughput | heap (heap needs --expose-gc),
// handler-off | handler | annotate | withspan (the span API).
// It imports the package source, lib/index.ts (BENCH_ENTRY overrides, e.g. dist/index.js).
import { randomUUID, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

type Lib = typeof import('../../lib/index.ts');
type Dto = { route_key: string; span_key: { trace_id: string; span_id: string }; data: unknown };
interface Hooks {
  beforeRouting(a: { protocolDto: Dto }): Promise<unknown>;
  afterRouting(a: { protocolDto: Dto; responseDto: unknown }): Promise<unknown>;
}

const [mode = 'request', url = 'http://127.0.0.1:9/v1/traces', nArg] = process.argv.slice(2);
const entry = process.env.BENCH_ENTRY
  ? pathToFileURL(path.resolve(process.env.BENCH_ENTRY)).href
  : new URL('../../lib/index.ts', import.meta.url).href;
const lib = (await import(entry)) as Lib;
// the span API is its own entry ("./handler"), next to the main one
const handlerEntry = entry.replace(/index\.(ts|js)$/, 'handler.$1');
const handlerApi = (await import(handlerEntry)) as typeof import('../../lib/handler.ts');
const ROUTE = 'tracker.log_request';
const RESPONSE = { status: 0 };

/**
 * `count` requests as a host would hand them over: fresh objects and fresh strings, parsed from
 * JSON (not the same few span_key objects again and again, which would flatter any cache).
 */
function freshDtos(count: number): Dto[] {
  const list: Dto[] = [];
  for (let i = 0; i < count; i++) {
    const spanKey = { trace_id: randomUUID(), span_id: randomBytes(8).toString('hex') };
    list.push({ route_key: ROUTE, span_key: spanKey, data: { message: 'hello', n: i } });
  }
  return JSON.parse(JSON.stringify(list)) as Dto[];
}

async function request(hooks: Hooks, dto: Dto): Promise<void> {
  const d = (await hooks.beforeRouting({ protocolDto: dto })) as Dto;
  await hooks.afterRouting({ protocolDto: d, responseDto: RESPONSE });
}

/** A request with a handler between the hooks, called as the host calls it. */
async function handled(hooks: Hooks, dto: Dto, handler: () => Promise<unknown>): Promise<void> {
  const d = (await hooks.beforeRouting({ protocolDto: dto })) as Dto;
  await handler();
  await hooks.afterRouting({ protocolDto: d, responseDto: RESPONSE });
}

function out(result: Record<string, unknown>): never {
  process.stdout.write(JSON.stringify({ mode, ...result }) + '\n');
  process.exit(0);
}

const cpuMicros = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

/**
 * Request path: beforeRouting + afterRouting with exporting held back (batches larger than a
 * chunk, no timer), a forceFlush between chunks outside the timed part. `floor` times the same
 * loop through the contract's pass-through MiddlewareBase: the cost of two async hooks alone.
 */
async function requestPath(floor: boolean): Promise<never> {
  const n = Number(nArg ?? 100_000);
  const CHUNK = 1000;
  const tracer = new lib.OtlpTracingMiddleware({
    endpoint: url,
    serviceName: 'tracker-0',
    maxQueueSize: 4096,
    maxExportBatchSize: 2048,
    scheduledDelayMillis: 3_600_000,
  });
  const hooks: Hooks = floor ? new lib.MiddlewareBase() : tracer;
  let timed = 0n;
  for (let done = 0; done < n; done += CHUNK) {
    const dtos = freshDtos(CHUNK);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) await request(hooks, dtos[i]!);
    timed += process.hrtime.bigint() - t0;
    await tracer.forceFlush();
  }
  const exported = tracer.stats().exported;
  await tracer.shutdown();
  out({ ns_per_request: Number(timed) / n, exported });
}

/**
 * The span API's cost: the request path with a handler that does nothing, with the handler
 * context off (`handler-off`, the default until the API is used) or on (`handler`,
 * handlerSpans: true); with one currentSpan().setAttribute (`annotate`) or one withSpan around
 * an async step (`withspan`). Each of the last two minus `handler` is the cost of that one call,
 * its span's export queueing included; `handler` minus `handler-off` is the context's own.
 */
async function spanApi(kind: 'handler-off' | 'handler' | 'annotate' | 'withspan'): Promise<never> {
  const n = Number(nArg ?? 100_000);
  const CHUNK = 1000;
  const tracer = new lib.OtlpTracingMiddleware({
    endpoint: url,
    serviceName: 'tracker-0',
    maxQueueSize: 4096,
    maxExportBatchSize: 4096,
    scheduledDelayMillis: 3_600_000,
    ...(kind === 'handler-off' ? {} : { handlerSpans: true }),
  });
  const step = async (): Promise<void> => {};
  const handlers = {
    'handler-off': step,
    handler: step,
    annotate: async () => void handlerApi.currentSpan().setAttribute('user.id', 42),
    withspan: () => handlerApi.withSpan('db.query', step),
  };
  const handler = handlers[kind];
  let timed = 0n;
  for (let done = 0; done < n; done += CHUNK) {
    const dtos = freshDtos(CHUNK);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) await handled(tracer, dtos[i]!, handler);
    timed += process.hrtime.bigint() - t0;
    await tracer.forceFlush();
  }
  const exported = tracer.stats().exported;
  await tracer.shutdown();
  out({ ns_per_request: Number(timed) / n, exported });
}

/** Encoding: ExportBatch.encode() (JSON plus UTF-8 bytes) timed on 512-span batches of real request spans. */
async function encode(): Promise<never> {
  const batches: { encode(): Uint8Array; spans: readonly unknown[] }[] = [];
  const tracer = new lib.OtlpTracingMiddleware({
    serviceName: 'tracker-0',
    maxQueueSize: 100_000,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 3_600_000,
    exporter: {
      export(batch) {
        batches.push(batch);
        return Promise.resolve({ exported: batch.spans.length, rejected: 0, failed: 0 });
      },
    },
  });
  const BATCHES = 12;
  const REPS = 25;
  for (const dto of freshDtos(512 * BATCHES)) await request(tracer, dto);
  await tracer.forceFlush();
  const perSpan: number[] = [];
  let bytes = 0;
  for (let rep = 0; rep < REPS; rep++) {
    for (const b of batches) {
      const t0 = process.hrtime.bigint();
      const body = b.encode();
      perSpan.push(Number(process.hrtime.bigint() - t0) / b.spans.length);
      bytes = body.byteLength / b.spans.length;
    }
  }
  perSpan.sort((a, b) => a - b);
  await tracer.shutdown();
  out({ ns_per_span: perSpan[perSpan.length >> 1], bytes_per_span: bytes });
}

/**
 * Exporter throughput: n spans made with exporting held back, then one forceFlush through the
 * HTTP exporter to the sink (batches of 512, two in flight), timed. Also the CPU of both phases.
 */
async function throughput(): Promise<never> {
  const n = Number(nArg ?? 100_000);
  const tracer = new lib.OtlpTracingMiddleware({
    endpoint: url,
    serviceName: 'tracker-0',
    maxQueueSize: 1_000_000,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 3_600_000,
  });
  let dtos: Dto[] | undefined = freshDtos(n);
  const cpu0 = cpuMicros();
  // Only microtasks run in this loop: the batcher's pump (an immediate) waits for the flush.
  for (let i = 0; i < n; i++) await request(tracer, dtos[i]!);
  dtos = undefined; // the harness's requests are done with: only the spans stay alive
  const cpu1 = cpuMicros();
  const t0 = process.hrtime.bigint();
  await tracer.forceFlush();
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu2 = cpuMicros();
  const s = tracer.stats();
  await tracer.shutdown();
  out({
    spans_per_s: (s.exported / wallNs) * 1e9,
    export_cpu_us_per_span: (cpu2 - cpu1) / n,
    e2e_cpu_us_per_span: (cpu2 - cpu0) / n,
    exported: s.exported,
    bytes_sent: s.bytesSent,
  });
}

/**
 * Heap under sustained load: 100k spans/s to the sink, 3 s of warm-up (JIT, connections, heap
 * sizing), then 10 s with heapUsed read after a full GC every second.
 */
async function heap(): Promise<never> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('heap mode needs --expose-gc');
  const RATE = 100_000;
  const WARM = 3;
  const SECONDS = Number(nArg ?? 10);
  const tracer = new lib.OtlpTracingMiddleware({ endpoint: url, serviceName: 'tracker-0' });
  // A pool of distinct keys, parsed from JSON; each request still gets its own DTO object.
  const keys = freshDtos(8192).map((d) => d.span_key);
  const warm: number[] = [];
  const samples: number[] = [];
  const drops: number[] = [];
  const t0 = performance.now();
  let done = 0;
  let nextSample = 1;
  while (true) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= nextSample) {
      gc();
      (nextSample <= WARM ? warm : samples).push(process.memoryUsage().heapUsed / 1e6);
      drops.push(tracer.stats().dropped);
      if (nextSample++ >= WARM + SECONDS) break;
    }
    const due = Math.min(Math.floor(elapsed * RATE) - done, 500); // at most 5 ms of load per turn of the loop
    for (let i = 0; i < due; i++, done++) {
      await request(tracer, { route_key: ROUTE, span_key: keys[done & 8191]!, data: null });
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - t0) / 1000;
  await tracer.forceFlush();
  const s = tracer.stats();
  await tracer.shutdown();
  const counts = { exported: s.exported, dropped: s.dropped, failed: s.failed };
  out({ warm_mb: warm, samples_mb: samples, dropped_by_second: drops, spans: done, rate: done / elapsed, ...counts });
}

switch (mode) {
  case 'request':
    await requestPath(false);
    break;
  case 'floor':
    await requestPath(true);
    break;
  case 'encode':
    await encode();
    break;
  case 'throughput':
    await throughput();
    break;
  case 'heap':
    await heap();
    break;
  case 'handler-off':
  case 'handler':
  case 'annotate':
  case 'withspan':
    await spanApi(mode);
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
