// Run by context.spec.ts in a fresh process: a tracer with handlerSpans: true made before the span
// API ("./handler") is imported. Three concurrent requests ask the middleware for
// outgoingSpanKey() before the import, three after it ask currentSpan(); prints both as one JSON line.
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryExporter, MiddlewareManager, BufferedMiddlewareManager } from '../../lib/index.ts';
import { OtlpTracingMiddleware } from '../../lib/index.ts';
import { EcoHost } from '../../lib/testing/host.ts';

const manager = new MiddlewareManager();
const tracer = new OtlpTracingMiddleware({ exporter: new InMemoryExporter(), handlerSpans: true });
manager.add(tracer);
const host = new EcoHost({ middlewareManager: manager, bufferedMiddlewareManager: new BufferedMiddlewareManager() });
let handler: typeof import('../../lib/handler.ts') | undefined;
host.endpoint('r', async (dto) => {
  await sleep(Number((dto.data as { wait: number }).wait));
  const key = handler ? handler.currentSpan().spanKey() : tracer.outgoingSpanKey();
  return key ? key.trace_id.slice(-1) : 'none';
});

await sleep(1);
const round = () =>
  Promise.all(
    [1, 2, 3].map((n) => {
      const spanKey = { trace_id: `00000000-0000-4000-8000-00000000000${n}`, span_id: '9c7e5a3b1d0f2e4c' };
      return host.request({ route_key: 'r', span_key: spanKey, data: { wait: 4 - n } });
    }),
  );
const before = await round();
handler = await import('../../lib/handler.ts');
const after = await round();
await tracer.shutdown();
process.stdout.write(JSON.stringify([before, after]) + '\n');
