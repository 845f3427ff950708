/**
 * Our tracer → a real OpenTelemetry Collector (otlp receiver, HTTP) → its otlp_http exporter
 * with encoding json → a sink in this test. What the Collector decoded and re-encoded must
 * equal, span for span, what we sent; and what we sent must be what the traffic means.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { hasGo } from './backends.ts';
import { startCollector, startSink } from './harness.ts';
import { runTraffic, canonical, assertTrafficMeaning } from './traffic.ts';

const canRun = hasGo() || Boolean(process.env.EKOSIS_E2E_OTELCOL_BIN);

const skip = { skip: !canRun && 'go is not on PATH' };

describe('OpenTelemetry Collector decodes exactly what the tracer sends', skip, () => {
  for (const compression of ['none', 'gzip'] as const) {
    test(`compression ${compression}`, { timeout: 120_000 }, async (t) => {
      const sink = await startSink({ t });
      const collector = await startCollector({ sinkUrl: sink.url, t });
      const traffic = await runTraffic(collector.otlpUrl, compression);
      assertTrafficMeaning(traffic);

      const received = await sink.waitForSpans(traffic.sent.length, { timeoutMs: 15_000 });
      assert.equal(received.length, traffic.sent.length, 'the Collector re-exported every span, once');
      const bySpanId = new Map(received.map((r) => [r.span.spanId, r]));
      for (const s of traffic.sent) {
        const r = bySpanId.get(s.span.spanId);
        assert.ok(r, `span ${s.span.name} ${s.span.spanId} reached the sink`);
        assert.deepEqual(canonical(r), canonical(s), `span ${s.span.name}`);
      }
      const log = readFileSync(collector.logFile, 'utf8');
      const errors = log
        .split('\n')
        .filter(
          (l) =>
            /\berror\b/i.test(l) &&
            !/error_mode|ErrorMode/.test(l) &&
            /\t(error|warn)\t|"level":"(error|warn)"/i.test(l),
        );
      assert.deepEqual(errors, [], 'no errors or warnings in the Collector log');
    });
  }
});
