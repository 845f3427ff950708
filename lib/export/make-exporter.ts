// The exporter a configuration asks for: the HTTP one or the user's, with payload recording
// around it when recordPayloadsTo is set.
import type { ResolvedConfig } from '../config/config.js';
import type { Diagnostics } from '../util/diagnostics.js';
import type { Platform } from '../platform/platform.js';
import { platform as defaultPlatform } from '../platform/node/index.js';
import { InMemoryExporter, type SpanExporter } from './exporter.js';
import { HttpExporter } from './http-exporter.js';

export interface ConfiguredExporter {
  exporter: SpanExporter;
  /**
   * The exporter is done with a batch's body once the batch settles (the built-in ones: the
   * recorder writes a copy), so the body's buffer may serve a later batch.
   */
  reusableBodies: boolean;
}

export function makeExporter(
  config: ResolvedConfig,
  diagnostics: Diagnostics,
  platform: Platform = defaultPlatform,
): ConfiguredExporter {
  const path = config.enabled ? config.recordPayloadsTo : undefined;
  // The recorder (node:fs on Node) is loaded only when recording is asked for.
  const file =
    path === undefined
      ? undefined
      : platform.loadRecorder().then((m) => new m.PayloadFile(path, (message) => diagnostics.warn('record', message)));
  const record = file && (async (json: Uint8Array) => (await file).append(json));
  const custom = config.exporter;
  const inner =
    custom ??
    // The config's headers, timeoutMillis, compression and retry are the exporter's options of those names.
    new HttpExporter({ ...config, url: config.endpoint, diagnostics, onPayload: record, platform });
  if (!record) return { exporter: inner, reusableBodies: !custom || custom instanceof InMemoryExporter };
  return {
    exporter: {
      // A replaced exporter still gets its payloads recorded, exactly as encoded (the HTTP one
      // records through onPayload).
      export: async (batch) => {
        if (custom) await record(batch.encode()).catch(() => undefined);
        return inner.export(batch);
      },
      shutdown: async () => {
        await inner.shutdown?.();
        await (await file!).close();
      },
    },
    reusableBodies: !custom,
  };
}
