// Child process of spec/core/tracer.spec.ts: a script that ends a span and never calls
// shutdown(); the span must still reach the endpoint (argv[2]), and the process must exit.
import { createTracer } from '../../lib/core.ts';

const tracer = createTracer({ serviceName: 'script', endpoint: process.argv[2]! });
tracer.startSpan('before exit').end();
