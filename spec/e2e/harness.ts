/**
 * Test-time helpers to run REAL OTLP backends (an OpenTelemetry Collector and Jaeger v2, built by
 * ./backends.ts) and read back what they decoded. Node built-ins only.
 *
 * Rules kept here: no fixed ports (every listener gets a free 127.0.0.1 port), every wait is
 * bounded, every process is stopped (SIGTERM, then SIGKILL after ~3 s) and the stop is awaited.
 * Pass `t` (a node:test TestContext) to register the stop with `t.after`, and/or use try/finally.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync, inflateSync } from 'node:zlib';

import { ensureCollector, ensureJaeger } from './backends.js';

// ---------------------------------------------------------------------------------------------
// OTLP/JSON shapes (the subset the tests read)
// ---------------------------------------------------------------------------------------------

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64 as a decimal string in OTLP/JSON (a number is also accepted by receivers). */
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: string | number; name: string; attributes?: KeyValue[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: { traceId: string; spanId: string; traceState?: string; attributes?: KeyValue[]; flags?: number }[];
  droppedLinksCount?: number;
  status?: { code?: number; message?: string };
}
export interface ExportTraceServiceRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[]; droppedAttributesCount?: number };
    scopeSpans?: {
      scope?: { name?: string; version?: string; attributes?: KeyValue[] };
      spans?: OtlpSpan[];
      schemaUrl?: string;
    }[];
    schemaUrl?: string;
  }[];
}

/** A span with the resource and scope it came in, as flattened by `spansOf`. */
export interface FlatSpan {
  span: OtlpSpan;
  resource: KeyValue[];
  scope: { name?: string; version?: string; attributes?: KeyValue[] };
}

/** Flattens resourceSpans → scopeSpans → spans. */
export function spansOf(req: ExportTraceServiceRequest): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({ span, resource: rs.resource?.attributes ?? [], scope: ss.scope ?? {} });
      }
    }
  }
  return out;
}

/** KeyValue[] → { key: AnyValue } (last one wins), for exact, typed assertions. */
export function attrMap(kvs: KeyValue[] | undefined): Record<string, AnyValue | undefined> {
  const out: Record<string, AnyValue | undefined> = {};
  for (const kv of kvs ?? []) out[kv.key] = kv.value;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generic helpers: ports, waits, processes
// ---------------------------------------------------------------------------------------------

/** Something with node:test's `after` (a TestContext or the module-level `after`). */
export interface CleanupHost {
  after(fn: () => unknown): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `n` distinct free ports on 127.0.0.1: listens on port 0 `n` times (all held open at once so
 * they differ), closes, and returns them for reuse. The usual small race remains; the
 * start* helpers retry with new ports if a backend then fails with "address already in use".
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createNetServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export interface WaitOptions {
  /** Total time allowed (default 10 s). */
  timeoutMs?: number;
  /** Pause between tries (default 100 ms). */
  intervalMs?: number;
  /** Says what is awaited, for the timeout error. */
  what?: string;
}

/**
 * Calls `fn` until it returns a value other than undefined/null/false, and resolves to it.
 * Thrown errors count as "not yet" (the last one is reported on timeout). Bounded.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() + intervalMs > deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await sleep(intervalMs);
  }
}

/** True if a TCP connection to host:port succeeds within `timeoutMs`. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export interface BackendProcess {
  pid: number;
  logFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000); resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The log so far. */
  log(): string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: never leave a backend behind when the test process goes away.
  process.once('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

/** Spawns a backend with stdout+stderr going to `logFile`. */
export function startProcess(
  binary: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): BackendProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      running.delete(child);
      try {
        writeFileSync(logFile, `\n[harness] spawn error: ${err.message}\n`, { flag: 'a' });
      } catch {
        /* ignore */
      }
      resolve({ code: -1, signal: null });
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    logFile,
    exited,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    stop(graceMs = 3_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timers: NodeJS.Timeout[] = [];
        try {
          await Promise.race([
            exited,
            new Promise<void>((resolve) => {
              timers.push(setTimeout(() => child.kill('SIGKILL'), graceMs));
              // bounded even if the SIGKILL'd process somehow is not reaped
              timers.push(setTimeout(resolve, graceMs + 5_000));
            }),
          ]);
        } finally {
          timers.forEach(clearTimeout);
        }
      })();
      return stopping;
    },
  };
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Waits until all `ports` accept TCP connections and `extra` (if given) says ready; fails at
 * once (with the log's tail) if the process exits first. Bounded by `timeoutMs`.
 */
async function waitReady(
  proc: BackendProcess,
  name: string,
  ports: number[],
  timeoutMs: number,
  extra?: () => Promise<boolean>,
): Promise<void> {
  let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void proc.exited.then((e) => (exitedEarly = e));
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (true) {
    if (exitedEarly) {
      throw new Error(
        `${name} exited early (code ${exitedEarly.code}, signal ${exitedEarly.signal}); ` +
          `log ${proc.logFile}:\n${tail(proc.log())}`,
      );
    }
    let ready = true;
    for (const p of ports) {
      if (!(await canConnect(p))) {
        ready = false;
        break;
      }
    }
    if (ready && extra) {
      try {
        ready = await extra();
      } catch (err) {
        ready = false;
        lastError = err instanceof Error ? `; last error: ${err.message}` : '';
      }
    }
    if (ready) return;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${name} to get ready on ports ${ports.join(', ')}${lastError}; ` +
          `log ${proc.logFile}:\n${tail(proc.log())}`,
      );
    }
    await sleep(100);
  }
}

/** Starts via `attempt` up to 3 times while a start fails because a picked port got taken. */
async function withPortRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (i >= 3 || !/address already in use/i.test(msg)) throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OpenTelemetry Collector
// ---------------------------------------------------------------------------------------------

export interface CollectorConfigOptions {
  /** 127.0.0.1 port of the otlp receiver's HTTP protocol. */
  otlpHttpPort: number;
  /** Full URL the otlp_http exporter POSTs traces to (e.g. a sink's `url`). */
  sinkUrl: string;
  /** debug exporter verbosity (default "detailed": spans are logged, handy when a test fails). */
  debugVerbosity?: 'basic' | 'normal' | 'detailed';
}

/**
 * The Collector config: otlp receiver (HTTP only — gRPC is off because it isn't listed — on
 * 127.0.0.1:<otlpHttpPort>), exporters `debug` and `otlp_http` (encoding json, no compression,
 * no retries and no queue, so a receiver request returns only after the sink got the data),
 * one traces pipeline, internal telemetry metrics off (so nothing binds :8888).
 */
export function collectorConfig(o: CollectorConfigOptions): string {
  return `# written by spec/e2e/harness.ts
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${o.otlpHttpPort}
exporters:
  debug:
    verbosity: ${o.debugVerbosity ?? 'detailed'}
  otlp_http:
    traces_endpoint: ${JSON.stringify(o.sinkUrl)}
    encoding: json
    compression: none
    timeout: 5s
    retry_on_failure:
      enabled: false
    sending_queue:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: info
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug, otlp_http]
`;
}

export interface StartCollectorOptions {
  /** Where the otlp_http exporter sends traces (full URL, e.g. `startSink().url`). */
  sinkUrl: string;
  /** Collector binary (default: $EKOSIS_E2E_OTELCOL_BIN, else ensureCollector()). */
  binary?: string;
  /** Bounded start-up wait (default 30 s). */
  timeoutMs?: number;
  debugVerbosity?: CollectorConfigOptions['debugVerbosity'];
  /** Registers `stop` with `t.after`. */
  t?: CleanupHost;
}

export interface CollectorHandle {
  /** Base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:PORT */
  otlpUrl: string;
  /** `${otlpUrl}/v1/traces` */
  tracesUrl: string;
  logFile: string;
  configFile: string;
  /** Temp dir holding config and log. */
  dir: string;
  process: BackendProcess;
  stop(): Promise<void>;
}

export async function startCollector(opts: StartCollectorOptions): Promise<CollectorHandle> {
  const binary = opts.binary ?? process.env.EKOSIS_E2E_OTELCOL_BIN ?? (await ensureCollector());
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-e2e-otelcol-'));
  const handle = await withPortRetry(async () => {
    const [otlpHttpPort] = (await freePorts(1)) as [number];
    const configFile = join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      collectorConfig({ otlpHttpPort, sinkUrl: opts.sinkUrl, debugVerbosity: opts.debugVerbosity }),
    );
    const logFile = join(dir, 'collector.log');
    const proc = startProcess(binary, [`--config=${configFile}`], logFile);
    try {
      await waitReady(proc, 'otelcol', [otlpHttpPort], opts.timeoutMs ?? 30_000);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    const otlpUrl = `http://127.0.0.1:${otlpHttpPort}`;
    return {
      otlpUrl,
      tracesUrl: `${otlpUrl}/v1/traces`,
      logFile,
      configFile,
      dir,
      process: proc,
      stop: () => proc.stop(),
    } satisfies CollectorHandle;
  });
  opts.t?.after(() => handle.stop());
  return handle;
}

// ---------------------------------------------------------------------------------------------
// Jaeger v2
// ---------------------------------------------------------------------------------------------

export interface JaegerConfigOptions {
  otlpHttpPort: number;
  queryHttpPort: number;
  /** jaeger_query always starts its gRPC API too; it gets a free port. */
  queryGrpcPort: number;
}

/**
 * The Jaeger v2 config: in-memory storage, otlp receiver (HTTP only), jaeger_query (HTTP + its
 * always-on gRPC, both on free ports, self-tracing off). Nothing else listens: no jaeger/zipkin
 * receivers, no healthcheck/pprof/expvar/zpages/remote_sampling extensions, telemetry metrics off.
 */
export function jaegerConfig(o: JaegerConfigOptions): string {
  return `# written by spec/e2e/harness.ts
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:${o.queryHttpPort}
    grpc:
      endpoint: 127.0.0.1:${o.queryGrpcPort}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${o.otlpHttpPort}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

export interface StartJaegerOptions {
  /** Jaeger binary (default: $EKOSIS_E2E_JAEGER_BIN, else ensureJaeger()). */
  binary?: string;
  /** Bounded start-up wait (default 30 s). */
  timeoutMs?: number;
  t?: CleanupHost;
}

export interface JaegerHandle {
  /** Base URL of the OTLP/HTTP receiver. */
  otlpUrl: string;
  /** `${otlpUrl}/v1/traces` */
  tracesUrl: string;
  /** Base URL of the query service (HTTP API + UI), e.g. http://127.0.0.1:PORT */
  queryUrl: string;
  logFile: string;
  configFile: string;
  dir: string;
  process: BackendProcess;
  /** GET /api/traces/<id> (undefined while not found). */
  getTrace(traceIdHex: string): Promise<JaegerTrace | undefined>;
  /** GET /api/v3/traces/<id> (OTLP-shaped; undefined while not found). */
  getTraceV3(traceIdHex: string): Promise<ExportTraceServiceRequest | undefined>;
  /** Polls /api/traces/<id> until it holds at least `spanCount` spans (bounded, default 10 s). */
  waitForTrace(traceIdHex: string, spanCount: number, opts?: WaitOptions): Promise<JaegerTrace>;
  stop(): Promise<void>;
}

export async function startJaeger(opts: StartJaegerOptions = {}): Promise<JaegerHandle> {
  const binary = opts.binary ?? process.env.EKOSIS_E2E_JAEGER_BIN ?? (await ensureJaeger());
  const dir = mkdtempSync(join(tmpdir(), 'ekosis-e2e-jaeger-'));
  const handle = await withPortRetry(async () => {
    const [otlpHttpPort, queryHttpPort, queryGrpcPort] = (await freePorts(3)) as [number, number, number];
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, jaegerConfig({ otlpHttpPort, queryHttpPort, queryGrpcPort }));
    const logFile = join(dir, 'jaeger.log');
    const proc = startProcess(binary, [`--config=${configFile}`], logFile, { OTEL_TRACES_EXPORTER: 'none' });
    const queryUrl = `http://127.0.0.1:${queryHttpPort}`;
    try {
      await waitReady(proc, 'jaeger', [otlpHttpPort, queryHttpPort], opts.timeoutMs ?? 30_000, async () => {
        const res = await fetch(`${queryUrl}/api/services`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        return res.ok;
      });
    } catch (err) {
      await proc.stop();
      throw err;
    }
    const otlpUrl = `http://127.0.0.1:${otlpHttpPort}`;
    const h: JaegerHandle = {
      otlpUrl,
      tracesUrl: `${otlpUrl}/v1/traces`,
      queryUrl,
      logFile,
      configFile,
      dir,
      process: proc,
      getTrace: (id) => jaegerGetTrace(queryUrl, id),
      getTraceV3: (id) => jaegerGetTraceV3(queryUrl, id),
      waitForTrace: (id, n, o) => waitForJaegerTrace(queryUrl, id, n, o),
      stop: () => proc.stop(),
    };
    return h;
  });
  opts.t?.after(() => handle.stop());
  return handle;
}

/** A trace as Jaeger's HTTP JSON API (`/api/traces/<id>`) returns it. */
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags?: JaegerTag[] }>;
  warnings?: string[] | null;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  flags?: number;
  /** microseconds since the epoch */
  startTime: number;
  /** microseconds */
  duration: number;
  tags?: JaegerTag[];
  logs?: { timestamp: number; fields: JaegerTag[] }[];
  processID: string;
  warnings?: string[] | null;
}
export interface JaegerTag {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | number | boolean;
}

/** GET <queryUrl>/api/traces/<traceIdHex>; undefined on 404 (not (yet) stored). */
export async function jaegerGetTrace(queryUrl: string, traceIdHex: string): Promise<JaegerTrace | undefined> {
  const res = await fetch(`${queryUrl}/api/traces/${traceIdHex}`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET /api/traces/${traceIdHex}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { data?: JaegerTrace[] | null };
  return body.data?.[0];
}

/** GET <queryUrl>/api/v3/traces/<traceIdHex>; OTLP-shaped `result`, undefined on 404. */
export async function jaegerGetTraceV3(
  queryUrl: string,
  traceIdHex: string,
): Promise<ExportTraceServiceRequest | undefined> {
  const res = await fetch(`${queryUrl}/api/v3/traces/${traceIdHex}`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET /api/v3/traces/${traceIdHex}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { result?: ExportTraceServiceRequest };
  return body.result;
}

/** Polls until Jaeger returns the trace with at least `spanCount` spans. Bounded. */
export function waitForJaegerTrace(
  queryUrl: string,
  traceIdHex: string,
  spanCount: number,
  opts: WaitOptions = {},
): Promise<JaegerTrace> {
  return waitFor(
    async () => {
      const tr = await jaegerGetTrace(queryUrl, traceIdHex);
      return tr && tr.spans.length >= spanCount ? tr : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 200, what: `${spanCount} span(s) of trace ${traceIdHex} in Jaeger`, ...opts },
  );
}

// ---------------------------------------------------------------------------------------------
// Sink: an HTTP server that records what the Collector's otlp_http exporter delivers
// ---------------------------------------------------------------------------------------------

export interface SinkRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as received on the wire. */
  raw: Buffer;
  /** The body after undoing Content-Encoding (gzip/deflate). */
  body: Buffer;
  /** `body` parsed as JSON (undefined if it isn't JSON). */
  json: unknown;
}

export interface StartSinkOptions {
  /** Path part of `url` (default /v1/traces). Requests to any path are recorded. */
  path?: string;
  /** HTTP status to answer (default 200, body `{}`). */
  status?: number;
  t?: CleanupHost;
}

export interface Sink {
  /** Full URL to give an exporter, e.g. http://127.0.0.1:PORT/v1/traces */
  url: string;
  /** Every POST body, in arrival order. */
  bodies: SinkRequest[];
  /** All spans of all JSON bodies received so far, flattened. */
  spans(): FlatSpan[];
  /** Polls until at least `n` spans arrived (bounded, default 10 s). */
  waitForSpans(n: number, opts?: WaitOptions): Promise<FlatSpan[]>;
  close(): Promise<void>;
}

export async function startSink(opts: StartSinkOptions = {}): Promise<Sink> {
  const bodies: SinkRequest[] = [];
  const status = opts.status ?? 200;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        const raw = Buffer.concat(chunks);
        let body = raw;
        const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
        try {
          if (enc === 'gzip' || (raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b)) body = gunzipSync(raw);
          else if (enc === 'deflate') body = inflateSync(raw);
        } catch {
          body = raw;
        }
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          json = undefined;
        }
        bodies.push({ method: req.method, path: req.url ?? '', headers: req.headers, raw, body, json });
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const spans = () =>
    bodies.flatMap((b) => (b.json && typeof b.json === 'object' ? spansOf(b.json as ExportTraceServiceRequest) : []));
  let closing: Promise<void> | undefined;
  const sink: Sink = {
    url: `http://127.0.0.1:${port}${opts.path ?? '/v1/traces'}`,
    bodies,
    spans,
    waitForSpans: (n, o) =>
      waitFor(() => (spans().length >= n ? spans() : undefined), { what: `${n} span(s) at the sink`, ...o }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  opts.t?.after(() => sink.close());
  return sink;
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/** POSTs an OTLP/JSON body (Content-Type application/json), optionally gzipped. Bounded (10 s). */
export async function postOtlpJson(
  url: string,
  body: unknown,
  opts: { gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
  const json = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  let payload: Buffer = Buffer.from(json, 'utf8');
  if (opts.gzip) {
    payload = gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  const wire: ArrayBuffer = payload.buffer.slice(
    payload.byteOffset,
    payload.byteOffset + payload.byteLength,
  ) as ArrayBuffer;
  const res = await fetch(url, { method: 'POST', headers, body: wire, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}
