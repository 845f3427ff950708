// README.md stays true: every ```ts block type-checks against this package's source, the
// configuration table names every option and every variable lib/config/config.ts reads, and the
// commands it gives exist.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

interface Block {
  /** 1-based README line of the block's first code line. */
  line: number;
  lang: string;
  code: string;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    assert.ok(end < lines.length, `README line ${i + 1}: code block never closed`);
    out.push({ line: start + 1, lang: open[1]!, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

const tsBlocks = blocks(README).filter((b) => b.lang === 'ts');

/** Options that let README blocks import the package by name, resolved to lib/ sources. */
function compilerOptions(): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    paths: {
      'ekosis-otlp-traces': [join(ROOT, 'lib', 'index.ts')],
      'ekosis-otlp-traces/host': [join(ROOT, 'lib', 'testing', 'host.ts')],
    },
  };
}

describe('README.md code blocks', () => {
  let dir: string;
  let program: ts.Program;
  const files = new Map<string, Block>();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekosis-otlp-traces-readme-'));
    // Each block is an ES module of its own, as a user would paste it into a file.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    for (const b of tsBlocks) {
      const file = join(dir, `readme-line-${b.line}.ts`);
      writeFileSync(file, b.code + '\n');
      files.set(file, b);
    }
    program = ts.createProgram([...files.keys()], compilerOptions());
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has TypeScript examples for setup, manual wiring, hosts, outgoingSpanKey, options, stats and tests', () => {
    assert.ok(tsBlocks.length >= 8, `only ${tsBlocks.length} ts blocks`);
    const all = tsBlocks.map((b) => b.code).join('\n');
    for (const needle of [
      'initiateOtlpTracing(',
      'new OtlpTracingMiddleware(',
      'new OtlpBufferedTracingMiddleware(',
      'runRoutingFailed(',
      'outgoingSpanKey(',
      '.stats()',
      'new InMemoryExporter()',
      "from 'ekosis-otlp-traces/host'",
    ]) {
      assert.ok(all.includes(needle), `no ts block uses ${needle}`);
    }
  });

  it('every ts block type-checks (strict, NodeNext) against the package source', () => {
    const problems: string[] = [];
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file === undefined) {
        problems.push(`TS${d.code}: ${text}`);
        continue;
      }
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      const block = files.get(d.file.fileName);
      problems.push(
        block
          ? `README.md line ${block.line + line} (block starting at line ${block.line}), column ${character + 1}: TS${d.code}: ${text}`
          : `${d.file.fileName}:${line + 1}:${character + 1}: TS${d.code}: ${text}`,
      );
    }
    assert.deepEqual(problems, []);
  });
});

describe('README.md configuration', () => {
  let program: ts.Program | undefined;

  /** Property names of an exported interface of a lib/ module, from the type checker. */
  function properties(module: string, name: string): string[] {
    const file = join(ROOT, 'lib', module);
    program ??= ts.createProgram([join(ROOT, 'lib', 'index.ts')], { ...compilerOptions(), paths: {} });
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(file)!;
    const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).find((s) => s.name === name);
    assert.ok(symbol, `${module} exports ${name}`);
    return checker.getDeclaredTypeOfSymbol(symbol).getProperties().map((p) => p.name);
  }

  it('the options table has a row for every option of initiateOtlpTracing', () => {
    const options = properties('ecosystem/setup.ts', 'InitiateOptions');
    assert.ok(options.length >= 25, `only ${options.length} options found`);
    const missing = options.filter((o) => !new RegExp(`^\\| \`${o}\` \\|`, 'm').test(README));
    assert.deepEqual(missing, [], 'options without a row in the "Every option" table');
  });

  it('names every variable lib/config/config.ts reads', () => {
    const config = readFileSync(join(ROOT, 'lib', 'config', 'config.ts'), 'utf8');
    const otel = [...config.matchAll(/'(OTEL_[A-Z0-9_]+)'/g)].map((m) => m[1]!);
    // The ECOENV ladder's keys (extra('OTLP_TRACES_ENDPOINT'), envMs('OTLP_TRACES_TIMEOUT', …)).
    const extras = [...config.matchAll(/'(OTLP_TRACES_[A-Z0-9_]+)'/g)].map((m) => `ECOENV_EXTRA_${m[1]!}`);
    assert.ok(otel.length >= 15 && extras.length >= 5, `found ${otel.length} OTEL_* and ${extras.length} extras`);
    const missing = [...new Set([...otel, ...extras])].filter((v) => !README.includes('`' + v) && !README.includes(v + '`'));
    assert.deepEqual(missing, [], 'variables the README does not name');
    assert.ok(README.includes('`ECOENV_EXTRA_<APP>_<INSTANCE>_OTLP_TRACES_ENDPOINT`'));
    assert.ok(README.includes('`ECOENV_EXTRA_<APP>_OTLP_TRACES_ENDPOINT`'));
  });

  it('documents every stats() field and the invariant', () => {
    const fields = properties('export/batcher.ts', 'ExportStats');
    for (const f of fields) assert.ok(README.includes(`\`${f}\``) || README.includes(` ${f},`) || README.includes(`{ ${f},`), `stats field ${f}`);
    assert.ok(README.includes('exported + dropped + rejected + failed + queued + inFlight = ended'));
  });
});

describe('README.md commands', () => {
  it('gives the two commands, and CI runs what it says', () => {
    assert.ok(README.includes('npm ci && npm run demo'));
    assert.match(README, /^npm test\b/m);
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    for (const cmd of ['npm ci', 'npm test', 'npm run test:e2e']) {
      assert.ok(ci.includes(cmd), `.ci/run runs ${cmd}`);
      assert.ok(README.includes(cmd), `README mentions ${cmd}`);
    }
  });

  it('every `npm run <script>` it mentions exists', () => {
    const scripts = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0);
    const missing = [...new Set(scripts)].filter((s) => !(s in pkg.scripts));
    assert.deepEqual(missing, []);
  });

  it('keeps the sections other work fills in', () => {
    assert.match(README, /^## Performance$/m);
    assert.match(README, /^## Send to a real backend$/m);
  });
});
