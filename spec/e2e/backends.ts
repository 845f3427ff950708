/**
 * Builds the real OTLP backends that the e2e tests run against, once, into a cache folder
 * outside the repo: `${XDG_CACHE_HOME:-~/.cache}/ekosis-otlp-traces/<name>-<version>/`.
 *
 *  - an OpenTelemetry Collector made with the official OpenTelemetry Collector Builder (ocb):
 *    `otlp` receiver, `debug` + `otlphttp` exporters;
 *  - Jaeger v2 (`github.com/jaegertracing/jaeger/cmd/jaeger`), built from its module source.
 *
 * Go is a test-time tool only. Node built-ins only.
 *
 * CLI:  node --import tsx spec/e2e/backends.ts build   (also: `paths`, `clean`)
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  cpSync,
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Pinned versions. They resolve together: ocb v0.165.0 ships a default manifest with exactly
// these core component (v0.165.0) and confmap provider (v1.71.0) versions.
// ---------------------------------------------------------------------------------------------

/** OpenTelemetry Collector Builder (ocb) and core components, go.opentelemetry.io/collector. */
export const COLLECTOR_VERSION = '0.165.0';
/** Stable (v1.x) collector modules released together with COLLECTOR_VERSION. */
export const COLLECTOR_STABLE_VERSION = '1.71.0';
/**
 * Jaeger Go module version. Jaeger publishes its Go module with v1.x tags; v1.76.0 is the same
 * commit as the Jaeger v2.13.0 release (see its CHANGELOG: "v1.76.0 / v2.13.0 (2025-12-03)"),
 * and the newest one on the Go module proxy. `cmd/jaeger` is the v2 binary.
 */
export const JAEGER_MODULE_VERSION = '1.76.0';
export const JAEGER_RELEASE_VERSION = '2.13.0';

const COLLECTOR_DIST_NAME = 'otelcol-ekosis';
/** Generous, bounded timeout for each build step (override: EKOSIS_E2E_BUILD_STEP_TIMEOUT_MS). */
const STEP_TIMEOUT_MS = Number(process.env.EKOSIS_E2E_BUILD_STEP_TIMEOUT_MS) > 0
  ? Number(process.env.EKOSIS_E2E_BUILD_STEP_TIMEOUT_MS)
  : 25 * 60_000;
/** How long a second process waits for another one that holds the build lock. */
const LOCK_WAIT_MS = 50 * 60_000;

export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME && process.env.XDG_CACHE_HOME.trim() !== ''
    ? process.env.XDG_CACHE_HOME
    : join(homedir(), '.cache');
  return join(base, 'ekosis-otlp-traces');
}

export function collectorDir(): string {
  return join(cacheRoot(), `otelcol-${COLLECTOR_VERSION}`);
}

export function jaegerDir(): string {
  return join(cacheRoot(), `jaeger-${JAEGER_MODULE_VERSION}`);
}

/** Path the Collector binary has (or will have) once built. */
export function collectorBinaryPath(): string {
  return join(collectorDir(), 'dist', COLLECTOR_DIST_NAME);
}

/** Path the Jaeger binary has (or will have) once built. */
export function jaegerBinaryPath(): string {
  return join(jaegerDir(), 'jaeger');
}

/** True when `go` runs from PATH. */
export function hasGo(): boolean {
  try {
    const r = spawnSync('go', ['version'], { stdio: 'ignore', timeout: 30_000 });
    return r.status === 0;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Small build machinery: progress lines, logged steps with timeouts, markers, a lock.
// ---------------------------------------------------------------------------------------------

function progress(what: string): void {
  process.stderr.write(`test:e2e backends: ${what}\n`);
}

function hasNice(): boolean {
  const r = spawnSync('nice', ['-n', '19', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

let niceAvailable: boolean | undefined;

function tailOf(file: string, maxLines = 40, maxBytes = 16_384): string {
  try {
    const size = statSync(file).size;
    const start = Math.max(0, size - maxBytes);
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8').split('\n').slice(-maxLines).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

interface Step {
  /** Human-readable step name, used in progress and errors. */
  name: string;
  cmd: string;
  args: string[];
  cwd: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Runs one build step at low priority, appending its output to `logFile`. Resolves when it
 * exits 0; otherwise rejects with an error naming the step and the log (with its tail).
 * Killed (whole process group) after `timeoutMs`.
 */
function runStep(step: Step): Promise<void> {
  const timeoutMs = step.timeoutMs ?? STEP_TIMEOUT_MS;
  if (niceAvailable === undefined) niceAvailable = hasNice();
  const [cmd, args] = niceAvailable
    ? ['nice', ['-n', '19', step.cmd, ...step.args]]
    : [step.cmd, step.args];
  appendFileSync(
    step.logFile,
    `\n==== ${new Date().toISOString()} step "${step.name}": ${[step.cmd, ...step.args].join(' ')}\n` +
      `==== cwd: ${step.cwd}\n`,
  );
  progress(`${step.name} … (log: ${step.logFile})`);
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const fd = openSync(step.logFile, 'a');
    let child;
    try {
      child = spawn(cmd as string, args as string[], {
        cwd: step.cwd,
        env: { ...process.env, ...step.env },
        stdio: ['ignore', fd, fd],
        detached: true, // own process group, so a timeout kills go's children too
      });
    } catch (err) {
      closeSync(fd);
      reject(new Error(`build step "${step.name}" could not start: ${(err as Error).message}`));
      return;
    }
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    // If this process is interrupted, don't leave a half build running.
    const onExit = () => killGroup('SIGKILL');
    process.once('exit', onExit);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      try {
        closeSync(fd);
      } catch {
        /* ignore */
      }
      if (err) reject(err);
      else resolve();
    };
    child.on('error', (err) =>
      finish(new Error(`build step "${step.name}" failed to run ${step.cmd}: ${err.message}; log: ${step.logFile}`)),
    );
    child.on('exit', (code, signal) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      appendFileSync(step.logFile, `==== step "${step.name}" ended: code=${code} signal=${signal} after ${secs}s\n`);
      if (code === 0) {
        finish();
        return;
      }
      const why = timedOut
        ? `timed out after ${Math.round(timeoutMs / 1000)}s`
        : `exited with ${code === null ? `signal ${signal}` : `code ${code}`}`;
      finish(
        new Error(
          `build step "${step.name}" ${why}. Log: ${step.logFile}\n` +
            `--- last lines of the log ---\n${tailOf(step.logFile)}`,
        ),
      );
    });
  });
}

interface Marker {
  name: string;
  version: string;
  binary: string;
  builtAt: string;
  buildSeconds: number;
}

function readMarker(file: string): Marker | undefined {
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as Marker;
    if (m && typeof m.binary === 'string' && existsSync(m.binary)) return m;
  } catch {
    /* none, or broken */
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A directory lock (mkdir is atomic) so two concurrent runs don't build into the same folder. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let said = false;
  while (true) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      } catch {
        /* being written, or stale without pid */
      }
      let stale = Number.isFinite(holder) ? !pidAlive(holder) : false;
      if (!Number.isFinite(holder)) {
        try {
          stale = Date.now() - statSync(lockDir).mtimeMs > 60_000;
        } catch {
          stale = false;
        }
      }
      if (stale) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for build lock ${lockDir} (held by pid ${holder})`);
      if (!said) {
        progress(`waiting for another build (pid ${holder}) holding ${lockDir}`);
        said = true;
      }
      await sleep(1_000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * Shared shape of both builds: fast path on a marker, else lock, build, write the marker.
 */
async function ensureBuilt(
  name: string,
  version: string,
  dir: string,
  build: (dir: string, logFile: string) => Promise<string>,
): Promise<string> {
  const markerFile = join(dir, '.built.json');
  const done = readMarker(markerFile);
  if (done) return done.binary;
  mkdirSync(cacheRoot(), { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    const again = readMarker(markerFile); // another process may have finished meanwhile
    if (again) return again.binary;
    mkdirSync(dir, { recursive: true });
    const logFile = join(dir, 'build.log');
    const started = Date.now();
    progress(`building ${name} ${version} into ${dir} (first run only; several minutes)`);
    const binary = await build(dir, logFile);
    if (!existsSync(binary)) {
      throw new Error(`${name} build finished but ${binary} is missing. Log: ${logFile}\n${tailOf(logFile)}`);
    }
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    const marker: Marker = { name, version, binary, builtAt: new Date().toISOString(), buildSeconds };
    writeFileSync(markerFile, JSON.stringify(marker, null, 2) + '\n');
    progress(`built ${name} ${version} in ${buildSeconds}s: ${binary}`);
    return binary;
  });
}

// ---------------------------------------------------------------------------------------------
// OpenTelemetry Collector via ocb
// ---------------------------------------------------------------------------------------------

export function collectorManifest(outputPath: string): string {
  const core = `v${COLLECTOR_VERSION}`;
  const stable = `v${COLLECTOR_STABLE_VERSION}`;
  return [
    '# Written by spec/e2e/backends.ts: a small Collector distribution for ekosis-otlp-traces e2e tests.',
    'dist:',
    `  module: github.com/ekosis/ekosis-otlp-traces/${COLLECTOR_DIST_NAME}`,
    `  name: ${COLLECTOR_DIST_NAME}`,
    '  description: OpenTelemetry Collector for ekosis-otlp-traces e2e tests',
    `  version: ${COLLECTOR_VERSION}-ekosis`,
    `  output_path: ${JSON.stringify(outputPath)}`,
    'receivers:',
    `  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver ${core}`,
    'exporters:',
    `  - gomod: go.opentelemetry.io/collector/exporter/debugexporter ${core}`,
    `  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter ${core}`,
    'providers:',
    `  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider ${stable}`,
    `  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider ${stable}`,
    `  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider ${stable}`,
    'telemetry:',
    `  gomod: go.opentelemetry.io/collector/service ${core}`,
    '  import: go.opentelemetry.io/collector/service/telemetry/otelconftelemetry',
    '',
  ].join('\n');
}

/** Builds (first call) or finds (later calls) the Collector; resolves to the binary path. */
export function ensureCollector(): Promise<string> {
  return ensureBuilt('otelcol', COLLECTOR_VERSION, collectorDir(), async (dir, logFile) => {
    const gobin = join(dir, 'bin');
    const distDir = join(dir, 'dist');
    mkdirSync(gobin, { recursive: true });
    await runStep({
      name: `otelcol ${COLLECTOR_VERSION}: go install builder (ocb)`,
      cmd: 'go',
      args: ['install', `go.opentelemetry.io/collector/cmd/builder@v${COLLECTOR_VERSION}`],
      cwd: dir,
      env: { GOBIN: gobin, GOFLAGS: '-buildvcs=false' },
      logFile,
    });
    const manifest = join(dir, 'builder-config.yaml');
    writeFileSync(manifest, collectorManifest(distDir));
    rmSync(distDir, { recursive: true, force: true }); // a clean slate after a failed attempt
    await runStep({
      name: `otelcol ${COLLECTOR_VERSION}: ocb build`,
      cmd: join(gobin, 'builder'),
      args: [`--config=${manifest}`],
      cwd: dir,
      env: { GOFLAGS: '-buildvcs=false' },
      logFile,
    });
    return collectorBinaryPath();
  });
}

// ---------------------------------------------------------------------------------------------
// Jaeger v2 from its module source
// ---------------------------------------------------------------------------------------------

/** Collects `go` stdout (small outputs only) with a bounded timeout; errors include stderr. */
function goOutput(args: string[], cwd: string, logFile: string, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
  appendFileSync(logFile, `\n==== ${new Date().toISOString()} go ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => appendFileSync(logFile, d));
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      appendFileSync(logFile, out + `==== ended: code=${code} signal=${signal}\n`);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `"go ${args.join(' ')}" ` +
              `${code === null ? `was killed (${signal}; timeout?)` : `exited with code ${code}`}. ` +
              `Log: ${logFile}\n--- last lines of the log ---\n${tailOf(logFile)}`,
          ),
        );
    });
  });
}

/** Builds (first call) or finds (later calls) Jaeger v2; resolves to the binary path. */
export function ensureJaeger(): Promise<string> {
  return ensureBuilt('jaeger', JAEGER_MODULE_VERSION, jaegerDir(), async (dir, logFile) => {
    const mod = `github.com/jaegertracing/jaeger@v${JAEGER_MODULE_VERSION}`;
    // 1. Download the module source. `go install pkg@version` refuses it (replace directives),
    //    so it is built as the main module from a writable copy.
    progress(`jaeger ${JAEGER_MODULE_VERSION}: go mod download ${mod} … (log: ${logFile})`);
    let info: { Dir?: string; Error?: string };
    try {
      info = JSON.parse(await goOutput(['mod', 'download', '-json', mod], dir, logFile)) as typeof info;
    } catch (err) {
      throw new Error(
        `build step "jaeger ${JAEGER_MODULE_VERSION}: go mod download" failed: ${(err as Error).message}`,
      );
    }
    if (!info.Dir || !existsSync(info.Dir)) {
      throw new Error(
        `build step "jaeger ${JAEGER_MODULE_VERSION}: go mod download" ` +
          `gave no source dir (${info.Error ?? 'unknown error'}). Log: ${logFile}`,
      );
    }
    // 2. Copy to a writable build dir (the module cache is read-only).
    const src = join(dir, 'src');
    progress(`jaeger ${JAEGER_MODULE_VERSION}: copy module source to ${src}`);
    rmSync(src, { recursive: true, force: true });
    cpSync(info.Dir, src, { recursive: true });
    makeWritable(src);
    // 3. UI assets: the module zip lacks the jaeger-ui submodule build. Do what the Makefile's
    //    build-crossdock-ui-placeholder + build-ui targets do: ship the placeholder index.html,
    //    gzipped, as the "actual" assets (cmd/query/app/ui embeds `actual/*`).
    const uiDir = join(src, 'cmd', 'query', 'app', 'ui');
    const actual = join(uiDir, 'actual');
    mkdirSync(actual, { recursive: true });
    if (!existsSync(join(actual, 'index.html.gz'))) {
      const placeholder = join(uiDir, 'placeholder', 'index.html');
      if (existsSync(placeholder)) {
        writeFileSync(join(actual, 'index.html.gz'), gzipSync(readFileSync(placeholder)));
      } else if (readdirSync(actual).length === 0) {
        writeFileSync(join(actual, 'index.html.gz'), gzipSync('<!doctype html><title>Jaeger UI placeholder</title>'));
      }
    }
    // 4. go build ./cmd/jaeger as the main module, with the version stamped like `make build-jaeger`.
    const v = 'github.com/jaegertracing/jaeger/internal/version';
    const out = jaegerBinaryPath();
    await runStep({
      name: `jaeger ${JAEGER_MODULE_VERSION} (v${JAEGER_RELEASE_VERSION}): go build ./cmd/jaeger`,
      cmd: 'go',
      args: [
        'build',
        '-trimpath',
        '-buildvcs=false',
        '-ldflags',
        `-s -w -X ${v}.latestVersion=v${JAEGER_RELEASE_VERSION} -X ${v}.commitSHA=module-v${JAEGER_MODULE_VERSION}`,
        '-o',
        out,
        './cmd/jaeger',
      ],
      cwd: src,
      env: { GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      logFile,
    });
    return out;
  });
}

function makeWritable(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(p, 0o755);
      makeWritable(p);
    } else if (entry.isFile()) {
      chmodSync(p, 0o644);
    }
  }
  chmodSync(dir, 0o755);
}

/** Builds both backends (sequentially: the machine is small). */
export async function ensureBackends(): Promise<{ collector: string; jaeger: string }> {
  const collector = await ensureCollector();
  const jaeger = await ensureJaeger();
  return { collector, jaeger };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

async function cli(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'build';
  switch (cmd) {
    case 'build': {
      if (!hasGo()) {
        process.stderr.write(
          'backends: go is not on PATH (needs Go to build the OpenTelemetry Collector and Jaeger)\n',
        );
        return 1;
      }
      const t0 = Date.now();
      const { collector, jaeger } = await ensureBackends();
      process.stdout.write(`collector: ${collector}\njaeger: ${jaeger}\n`);
      process.stderr.write(`backends ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
      return 0;
    }
    case 'paths':
      process.stdout.write(
        `cache: ${cacheRoot()}\ncollector: ${collectorBinaryPath()}\njaeger: ${jaegerBinaryPath()}\n`,
      );
      return 0;
    case 'clean':
      rmSync(collectorDir(), { recursive: true, force: true });
      rmSync(jaegerDir(), { recursive: true, force: true });
      process.stdout.write(`removed ${collectorDir()} and ${jaegerDir()}\n`);
      return 0;
    default:
      process.stderr.write('usage: node --import tsx spec/e2e/backends.ts [build|paths|clean]\n');
      return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
