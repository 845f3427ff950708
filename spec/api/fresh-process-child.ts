// Run by context.spec.ts in a fresh process (no AsyncLocalStorage value set anywhere yet, as in
// a service that just started): two rounds of three concurrent requests through a host whose
// tracer is registered first or second (argv[2]), with the option handlerSpans as argv[3]
// ('true', 'false' or 'default'); diagnostics to stderr with a third argument. Prints what each
// handler saw, as one JSON line.
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryExporter, MiddlewareBase, MiddlewareManager, BufferedMiddlewareManager } from '../../lib/index.ts';
import { OtlpTracingMiddleware } from '../../lib/index.ts';
import { currentSpan } from '../../lib/handler.ts';
import { EcoHost } from '../../lib/testing/host.ts';

const [position, option, log] = process.argv.slice(2);
const handlerSpans = option === 'default' ? {} : { handlerSpans: option === 'true' };
const manager = new MiddlewareManager();
if (position === 'second') manager.add(new MiddlewareBase());
const logger = log ? (m: string) => void process.stderr.write(m + '\n') : () => undefined;
const tracer = new OtlpTracingMiddleware({ exporter: new InMemoryExporter(), logger, ...handlerSpans });
manager.add(tracer);
const host = new EcoHost({ middlewareManager: manager, bufferedMiddlewareManager: new BufferedMiddlewareManager() });
host.endpoint('r', async (dto) => {
  await sleep(Number((dto.data as { wait: number }).wait));
  const key = currentSpan().spanKey();
  return key ? key.trace_id.slice(-1) : 'none';
});

// Started from a promise continuation, as a host that awaited something first.
await sleep(1);
const round = () =>
  Promise.all(
    [1, 2, 3].map((n) => {
      const spanKey = { trace_id: `00000000-0000-4000-8000-00000000000${n}`, span_id: '9c7e5a3b1d0f2e4c' };
      return host.request({ route_key: 'r', span_key: spanKey, data: { wait: 4 - n } });
    }),
  );
const seen = [await round(), await round()];
await tracer.shutdown();
process.stdout.write(JSON.stringify(seen) + '\n');
