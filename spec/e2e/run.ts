/**
 * `npm run test:e2e`: builds the real backends once (cached outside the repo, see backends.ts),
 * then runs every spec/e2e/*.e2e.ts with node's test runner. Skips (exit 0) without Go.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ensureCollector, ensureJaeger, hasGo } from './backends.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

async function main(): Promise<number> {
  if (!hasGo()) {
    process.stdout.write(
      'test:e2e: skipped — go is not on PATH (needs Go to build the OpenTelemetry Collector and Jaeger)\n',
    );
    return 0;
  }
  const t0 = Date.now();
  const collector = await ensureCollector();
  const jaeger = await ensureJaeger();
  process.stderr.write(`test:e2e: backends ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);

  const files = readdirSync(here)
    .filter((f) => f.endsWith('.e2e.ts'))
    .sort()
    .map((f) => relative(repoRoot, join(here, f)));
  if (files.length === 0) {
    process.stderr.write('test:e2e: no spec/e2e/*.e2e.ts files\n');
    return 1;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
    cwd: repoRoot,
    stdio: 'inherit',
    env: { ...process.env, EKOSIS_E2E_OTELCOL_BIN: collector, EKOSIS_E2E_JAEGER_BIN: jaeger },
  });
  // Pass Ctrl-C / termination on to the test runner, which stops the backends.
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  return new Promise<number>((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`test:e2e: could not start the test runner: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test:e2e: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
