// `npm run demo`: the whole thing in one process, in a few seconds. A local OTLP/HTTP JSON
// receiver on a free port records and prints what arrives; two EcoSystem-style services on the
// in-process host send to it over real HTTP:
//   tracker-0  tracker.log_request       regular endpoint
//              tracker.log_request_fail  buffered endpoint (LogRequestFailDTO): attempt 0 fails,
//                                        the retry succeeds
//              tracker.report_usage      regular endpoint that forwards to billing with
//                                        tracer.outgoingSpanKey(span_key): a nested tree
//   billing-0  billing.record_usage      regular endpoint
// Then both tracers shut down, the receiver closes, and the combined trees, the export counts
// and the recording's path are printed. Exit code 0 when every span arrived, 1 otherwise.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BufferedMiddlewareManager,
  MiddlewareManager,
  type RequestDTO,
  type SpanKey,
} from '../../lib/ecosystem/contract.ts';
import { EcoHost } from '../../lib/testing/host.ts';
import { startReceiver } from '../../lib/cli/receiver.ts';
import { initiateOtlpTracing, type OtlpTracing } from '../../lib/ecosystem/setup.ts';
import { renderTrees } from '../../lib/cli/tree.ts';

/** The buffered endpoint's request model: process spans are named after this class. */
class LogRequestFailDTO {
  readonly message: string;
  constructor(data: { message?: unknown }) {
    this.message = String(data?.message ?? '');
  }
}

/** What an EcoSystem client does when it is not handed a span_key: a fresh one. */
function newSpanKey(): SpanKey {
  return { trace_id: randomUUID(), span_id: randomBytes(8).toString('hex') };
}

function request(route_key: string, data: unknown): RequestDTO {
  return { route_key, span_key: newSpanKey(), data };
}

/** One EcoSystem-style service: its own host, managers and tracer, sending to `endpoint`. */
function service(appName: string, endpoint: string): { host: EcoHost; tracing: OtlpTracing } {
  const middlewareManager = new MiddlewareManager();
  const bufferedMiddlewareManager = new BufferedMiddlewareManager();
  const tracing = initiateOtlpTracing({
    endpoint,
    appName,
    instance: '0',
    middlewareManager,
    bufferedMiddlewareManager,
    scheduledDelayMillis: 20,
  });
  return { host: new EcoHost({ middlewareManager, bufferedMiddlewareManager }), tracing };
}

/** service.name of a payload's first resource. */
function serviceOf(doc: unknown): string {
  type Attribute = { key: string; value?: { stringValue?: string } };
  const attrs = (doc as { resourceSpans?: { resource?: { attributes?: Attribute[] } }[] })
    ?.resourceSpans?.[0]?.resource?.attributes;
  return attrs?.find((a) => a.key === 'service.name')?.value?.stringValue ?? 'an unnamed service';
}

const out = (text: string): void => void process.stdout.write(text + '\n');
const heading = (text: string): void => out(`\n== ${text} ==`);

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-otlp-traces-demo-'));
  const record = join(dir, 'traces.ndjson');
  let from = '';
  const payloads: unknown[] = []; // the receiver keeps none: the demo shows them all together at the end
  const receiver = await startReceiver({
    port: 0,
    host: '127.0.0.1',
    record,
    onPayload: (doc) => {
      payloads.push(doc);
      from = serviceOf(doc);
    },
    print: (text) => out(`-- receiver: payload ${payloads.length} from ${from} --\n${text}`),
  });
  out(`receiver listening on ${receiver.url}, recording to ${record}`);

  const billing = service('billing', receiver.url);
  billing.host.endpoint('billing.record_usage', (dto) => ({ charged: (dto.data as { units: number }).units * 3 }));

  const tracker = service('tracker', receiver.url);
  let attempts = 0;
  tracker.host
    .endpoint('tracker.log_request', () => ({ logged: true }))
    // The first attempt fails (the entry goes back to the queue), the retry succeeds.
    .bufferedEndpoint('tracker.log_request_fail', () => ++attempts > 1, { model: LogRequestFailDTO, maxRetries: 3 })
    // Forwarding with outgoingSpanKey makes billing's span a child of this one.
    .endpoint('tracker.report_usage', (dto) =>
      billing.host.request({
        route_key: 'billing.record_usage',
        span_key: tracker.tracing.tracer.outgoingSpanKey(dto.span_key),
        data: dto.data,
      }),
    );

  // One flush per step, tracker first, so payloads arrive (and print) in a fixed order.
  const flush = async (): Promise<void> => {
    await tracker.tracing.tracer.forceFlush();
    await billing.tracing.tracer.forceFlush();
  };
  let code = 0;
  try {
    heading('1. tracker.log_request: a regular endpoint');
    await tracker.host.request(request('tracker.log_request', { message: 'hello' }));
    await flush();

    heading('2. tracker.log_request_fail: a buffered endpoint, first attempt fails, the retry succeeds');
    await tracker.host.request(request('tracker.log_request_fail', { message: 'try me twice' }));
    await tracker.host.drain();
    await flush();

    heading('3. tracker.report_usage forwards to billing.record_usage with outgoingSpanKey');
    await tracker.host.request(request('tracker.report_usage', { units: 2 }));
    await flush();
  } finally {
    await Promise.all([tracker.tracing.shutdown(), billing.tracing.shutdown()]);
    await receiver.close();
  }

  heading('all payloads together: one tree per trace');
  out(renderTrees(payloads).trimEnd());

  heading('export counts (exported + dropped + rejected + failed + queued + inFlight = ended)');
  const tracers = [
    ['tracker-0', tracker.tracing.tracer.stats()],
    ['billing-0', billing.tracing.tracer.stats()],
  ] as const;
  for (const [name, s] of tracers) {
    out(
      `${name}: ended ${s.ended}, exported ${s.exported}, dropped ${s.dropped}, rejected ${s.rejected}, ` +
        `failed ${s.failed}, queued ${s.queued}, inFlight ${s.inFlight}; ` +
        `retries ${s.retries}, ${s.bytesSent} bytes sent`,
    );
    if (s.exported !== s.ended) code = 1;
  }

  out(`\n${payloads.length} payloads recorded to ${record}`);
  out(`see them again: node --import tsx lib/cli/main.ts show ${record}`);
  out(`     (installed: npx ekosis-otlp-traces show ${record})`);
  return code;
}

// A leftover handle would keep the process alive: say so instead of hanging.
const watchdog = setTimeout(() => {
  process.stderr.write('demo: still running after 30 s; something kept the process alive\n');
  process.exit(1);
}, 30_000);
watchdog.unref();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
