// README.md and docs/*.md stay true: every ```ts block type-checks against this package's
// source (so does the demo, docs/examples/demo.ts), the configuration table names every option
// and every variable lib/config/config.ts reads, the commands they give exist and their links
// lead to files that exist.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** README.md and every docs/*.md, by path from the root. */
const PAGES = new Map<string, string>([
  ['README.md', README],
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f): [string, string] => [`docs/${f}`, readFileSync(join(ROOT, 'docs', f), 'utf8')]),
]);
const ALL_DOCS = [...PAGES.values()].join('\n');
const CONFIGURATION = PAGES.get('docs/configuration.md') ?? '';
const GUARANTEES = PAGES.get('docs/guarantees.md') ?? '';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

interface Block {
  /** The page it is on (README.md, docs/x.md). */
  page: string;
  /** 1-based line of the block's first code line. */
  line: number;
  lang: string;
  code: string;
}

function blocks(page: string, markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    assert.ok(end < lines.length, `${page} line ${i + 1}: code block never closed`);
    out.push({ page, line: start + 1, lang: open[1]!, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

const tsBlocks = [...PAGES].flatMap(([page, text]) => blocks(page, text)).filter((b) => b.lang === 'ts');
const DEMO = join(ROOT, 'docs', 'examples', 'demo.ts');

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
      'ekosis-otlp-traces/core': [join(ROOT, 'lib', 'core.ts')],
      'ekosis-otlp-traces/handler': [join(ROOT, 'lib', 'handler.ts')],
    },
  };
}

describe('README.md and docs/ code blocks', () => {
  let dir: string;
  let program: ts.Program;
  const files = new Map<string, Block>();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekosis-otlp-traces-readme-'));
    // Each block is an ES module of its own, as a user would paste it into a file.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    for (const b of tsBlocks) {
      const file = join(dir, `${b.page.replace(/\W/g, '-')}-line-${b.line}.ts`);
      writeFileSync(file, b.code + '\n');
      files.set(file, b);
    }
    // The demo imports the sources by path, with their .ts extensions (it runs through tsx).
    program = ts.createProgram([...files.keys(), DEMO], { ...compilerOptions(), allowImportingTsExtensions: true });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has TypeScript examples for setup, manual wiring, hosts, outgoingSpanKey, options, stats and tests', () => {
    assert.ok(tsBlocks.length >= 8, `only ${tsBlocks.length} ts blocks`);
    const all = tsBlocks.map((b) => b.code).join('\n');
    assert.ok(
      tsBlocks.some((b) => b.page === 'README.md' && b.code.includes('initiateOtlpTracing(')),
      'the README shows the setup call',
    );
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
          ? `${block.page} line ${block.line + line} (block starting at line ${block.line}), ` +
            `column ${character + 1}: TS${d.code}: ${text}`
          : `${d.file.fileName}:${line + 1}:${character + 1}: TS${d.code}: ${text}`,
      );
    }
    assert.deepEqual(problems, []);
  });
});

describe('docs/configuration.md', () => {
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
    const missing = options.filter((o) => !new RegExp(`^\\| \`${o}\` \\|`, 'm').test(CONFIGURATION));
    assert.deepEqual(missing, [], 'options without a row in the "Every option" table');
  });

  it('names every variable lib/config/config.ts reads', () => {
    const config = readFileSync(join(ROOT, 'lib', 'config', 'config.ts'), 'utf8');
    const otel = [...config.matchAll(/'(OTEL_[A-Z0-9_]+)'/g)].map((m) => m[1]!);
    // The ECOENV ladder's keys (extra('OTLP_TRACES_ENDPOINT'), envMs('OTLP_TRACES_TIMEOUT', …)).
    const extras = [...config.matchAll(/'(OTLP_TRACES_[A-Z0-9_]+)'/g)].map((m) => `ECOENV_EXTRA_${m[1]!}`);
    assert.ok(otel.length >= 15 && extras.length >= 5, `found ${otel.length} OTEL_* and ${extras.length} extras`);
    const missing = [...new Set([...otel, ...extras])].filter(
      (v) => !CONFIGURATION.includes('`' + v) && !CONFIGURATION.includes(v + '`'),
    );
    assert.deepEqual(missing, [], 'variables docs/configuration.md does not name');
    assert.ok(CONFIGURATION.includes('`ECOENV_EXTRA_<APP>_<INSTANCE>_OTLP_TRACES_ENDPOINT`'));
    assert.ok(CONFIGURATION.includes('`ECOENV_EXTRA_<APP>_OTLP_TRACES_ENDPOINT`'));
  });

  it('documents every stats() field and the invariant', () => {
    const fields = properties('export/batcher.ts', 'ExportStats');
    for (const f of fields) {
      assert.ok(
        GUARANTEES.includes(`\`${f}\``) || GUARANTEES.includes(` ${f},`) || GUARANTEES.includes(`{ ${f},`),
        `stats field ${f}`,
      );
    }
    assert.ok(GUARANTEES.includes('exported + dropped + rejected + failed + queued + inFlight = ended'));
  });
});

describe('README.md and docs/ commands and links', () => {
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
    const scripts = [...ALL_DOCS.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0);
    const missing = [...new Set(scripts)].filter((s) => !(s in pkg.scripts));
    assert.deepEqual(missing, []);
  });

  it('keeps the sections other work fills in', () => {
    assert.match(PAGES.get('docs/performance.md') ?? '', /^# Performance$/m);
    assert.match(PAGES.get('docs/backends.md') ?? '', /^# Send to a real backend$/m);
  });

  it('every relative link leads to a file that exists, every #anchor to a heading on that page', () => {
    const broken: string[] = [];
    const anchors = (text: string): Set<string> =>
      new Set(
        [...text.matchAll(/^#+ (.*)$/gm)].map((m) =>
          m[1]!.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'),
        ),
      );
    for (const [page, text] of PAGES) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const path = file === '' ? page : join(dirname(page), file);
        if (!existsSync(join(ROOT, path))) broken.push(`${page}: ${target}`);
        else if (anchor && path.endsWith('.md') && !anchors(readFileSync(join(ROOT, path), 'utf8')).has(anchor)) {
          broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });
});
