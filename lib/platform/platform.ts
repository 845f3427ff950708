// What a platform offers the exporter pipeline, loaded lazily so a module is only read when it is
// used. lib/platform/node/index.ts (net/tls transport, zlib gzip, node:fs recorder) and
// lib/platform/web/index.ts (fetch, CompressionStream, no recorder) both export `platform`;
// package.json "browser" maps the first to the second, its one mapping. So a browser or worker
// bundle reaches no node: module, and a Node bundle carries no web code.
import type { TransportModule } from './transport.js';

/** An append-only file of payloads (or, where there are no files, a stand-in that says so once). */
export interface PayloadFile {
  append(json: Uint8Array): void;
  /** Resolves when everything appended so far is written. */
  close(): Promise<void>;
}

export interface RecorderModule {
  PayloadFile: new (path: string, onError: (message: string) => void) => PayloadFile;
}

export interface Platform {
  loadTransport(): Promise<TransportModule>;
  loadRecorder(): Promise<RecorderModule>;
}
