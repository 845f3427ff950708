// Bundle sizes of the package's entries, as a user's bundler would ship them: the build in
// dist/ bundled, minified and gzipped (level 9) by esbuild, with the flags the side-by-side
// benchmark uses. esbuild is a measuring tool, not a dependency: it is installed once into a
// cache folder outside the project (like the e2e backends), never into node_modules.
//   node --import tsx spec/bench/size.ts      (npm run bench runs it too)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ESBUILD_VERSION = '0.28.2';

/** The entries measured: label, file in dist/, esbuild platform. */
export const ENTRIES: [label: string, file: string, platform: 'node' | 'browser'][] = [
  ['main entry (ekosis-otlp-traces), Node bundle', 'dist/index.js', 'node'],
  ['main entry, browser/worker bundle', 'dist/index.js', 'browser'],
  ['handler span API (ekosis-otlp-traces/handler)', 'dist/handler.js', 'node'],
  ['core entry (ekosis-otlp-traces/core)', 'dist/core.js', 'browser'],
];

function esbuild(): string {
  const base = process.env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  const dir = join(base, 'ekosis-otlp-traces', `esbuild-${ESBUILD_VERSION}`);
  const bin = join(dir, 'node_modules', '.bin', 'esbuild');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "private": true }\n');
    process.stderr.write(`bench: installing esbuild ${ESBUILD_VERSION} into ${dir} (once)\n`);
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', `esbuild@${ESBUILD_VERSION}`], { cwd: dir });
  }
  return bin;
}

export interface Size {
  label: string;
  min: number;
  gzip: number;
}

/** Builds dist/ and measures every entry that exists in it. */
export function measureSizes(): Size[] {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const bin = esbuild();
  const tmp = mkdtempSync(join(tmpdir(), 'ekosis-otlp-traces-size-'));
  try {
    const out: Size[] = [];
    for (const [label, file, platform] of ENTRIES) {
      if (!existsSync(join(ROOT, file))) continue;
      const bundle = join(tmp, 'bundle.js');
      const args = [file, '--bundle', '--minify', `--platform=${platform}`, '--format=esm', `--outfile=${bundle}`];
      execFileSync(bin, [...args, '--log-level=error'], { cwd: ROOT });
      const bytes = readFileSync(bundle);
      out.push({ label, min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const s of measureSizes()) {
    console.log(`${s.label.padEnd(48)}  ${String(s.min).padStart(7)} B min  ${String(s.gzip).padStart(6)} B min+gzip`);
  }
}
