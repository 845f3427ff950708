// The span API's types make misuse a compile error: a snippet of handler code is type-checked
// against lib/handler.ts with the TypeScript compiler. Each line marked @ts-expect-error must be an
// error (an unused marker is itself an error), and the well-formed lines must compile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const INDEX = fileURLToPath(new URL('../../lib/handler.ts', import.meta.url));

/** The diagnostics of one snippet, as "line: message". */
function check(snippet: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'span-api-types-'));
  try {
    const file = join(dir, 'snippet.ts');
    const imports = `import { currentSpan, withSpan, StatusCode, type ActiveSpan } from ${JSON.stringify(INDEX)};`;
    writeFileSync(file, `${imports}\n${snippet}\n`);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: ['node'],
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    });
    return ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => {
      const line = d.file!.getLineAndCharacterOfPosition(d.start!).line;
      return `${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('well-formed handler code compiles; each misuse is a compile error', { timeout: 60_000 }, () => {
  const diagnostics = check(`
currentSpan().setAttribute('user.id', 42).setAttribute('ok', true);
currentSpan().setAttribute('tags', ['a', 'b']).setAttribute('big', 1n);
currentSpan().setAttributes({ 'user.plan': 'pro', n: 1.5 });
currentSpan().addEvent('validated', { fields: 3 });
currentSpan().recordException(new Error('x'));
currentSpan().setStatus({ code: StatusCode.ERROR, message: 'partial' });
const n: number = withSpan('sync', () => 1);
const query = async (span: ActiveSpan) => { span.setAttribute('db.rows', 3); return 'rows'; };
const p: Promise<string> = withSpan('db.query', query, { kind: 'client' });
// @ts-expect-error an object is not an attribute value
currentSpan().setAttribute('user', { id: 42 });
// @ts-expect-error neither is null
currentSpan().setAttribute('maybe', null);
// @ts-expect-error nor undefined
currentSpan().setAttributes({ missing: undefined });
// @ts-expect-error nor a Date
currentSpan().addEvent('at', { when: new Date() });
// @ts-expect-error an array of objects
currentSpan().setAttribute('list', [{ a: 1 }]);
// @ts-expect-error a status code that does not exist
currentSpan().setStatus({ code: 3 });
// @ts-expect-error a span kind withSpan does not open
withSpan('x', () => 1, { kind: 'server' });
void n; void p;
`);
  assert.deepEqual(diagnostics, []);
});

test('the check can fail: the same misuse without its marker is reported', { timeout: 60_000 }, () => {
  const diagnostics = check(`currentSpan().setAttribute('user', { id: 42 });`);
  assert.equal(diagnostics.length, 1);
  const message =
    "Object literal may only specify known properties, and 'id' does not exist in type 'AttributeScalar[]'.";
  assert.equal(diagnostics[0], `1: ${message}`);
});
