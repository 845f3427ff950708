// The formatter: TypeScript's own (the one editors run on "Format Document"), with this
// project's settings, so formatting needs no dependency beyond the compiler. It fixes
// spacing within lines; it neither re-indents (see isIndentation) nor wraps lines, which the
// style spec checks (at most MAX_LINE characters).
//   npm run format            rewrite every file that needs it
//   (spec/style.spec.ts checks that no file needs it)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MAX_LINE = 120;

const SETTINGS: ts.FormatCodeSettings = {
  ...ts.getDefaultFormatCodeSettings('\n'),
  indentSize: 2,
  tabSize: 2,
  convertTabsToSpaces: true,
  insertSpaceAfterOpeningAndBeforeClosingNonemptyBraces: true,
  insertSpaceAfterOpeningAndBeforeClosingEmptyBraces: false,
  insertSpaceAfterFunctionKeywordForAnonymousFunctions: true,
  // Statement semicolons are kept by hand (inserting would also put them inside type literals).
  semicolons: ts.SemicolonPreference.Ignore,
};

/** Every TypeScript file of the project: lib/, spec/, docs/examples/ (paths from the root). */
export function sourceFiles(): string[] {
  const under = (dir: string): string[] =>
    (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f).split('\\').join('/'));
  return [...under('lib'), ...under('spec'), ...under('docs/examples')].sort();
}

/** Each file's text as the formatter would leave it, for the files it would change. */
export function formatted(files: string[]): Map<string, string> {
  const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
  const service = ts.createLanguageService({
    getScriptFileNames: () => files,
    getScriptVersion: () => '1',
    getScriptSnapshot: (f) => (texts.has(f) ? ts.ScriptSnapshot.fromString(texts.get(f)!) : undefined),
    getCurrentDirectory: () => ROOT,
    getCompilationSettings: () => ({ noResolve: true }),
    getDefaultLibFileName: ts.getDefaultLibFilePath,
    fileExists: (f) => texts.has(f),
    readFile: (f) => texts.get(f),
  });
  const out = new Map<string, string>();
  for (const [file, text] of texts) {
    // Edits come in order and do not overlap: apply them from the end.
    const edits = service.getFormattingEditsForDocument(file, SETTINGS).filter((edit) => !isIndentation(text, edit));
    let next = text;
    for (let i = edits.length - 1; i >= 0; i--) {
      const { span, newText } = edits[i]!;
      next = next.slice(0, span.start) + newText + next.slice(span.start + span.length);
    }
    if (next !== text) out.set(file, next);
  }
  return out;
}

/**
 * An edit of a line's leading whitespace. Those are left alone: TypeScript's formatter puts
 * continuation lines (a long call's arguments, `'...' +` strings) at the statement's own
 * indentation, where this code base indents them one step further, as most editors do.
 */
function isIndentation(text: string, edit: ts.TextChange): boolean {
  const lineStart = text.lastIndexOf('\n', edit.span.start - 1) + 1;
  const before = text.slice(lineStart, edit.span.start);
  const replaced = text.slice(edit.span.start, edit.span.start + edit.span.length);
  return /^[ \t]*$/.test(before) && /^[ \t]*$/.test(replaced) && /^[ \t]*$/.test(edit.newText);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const changed = formatted(sourceFiles());
  for (const [file, text] of changed) writeFileSync(join(ROOT, file), text);
  console.log(
    changed.size
      ? `formatted ${[...changed.keys()].map((f) => relative('.', join(ROOT, f))).join(', ')}`
      : 'nothing to format',
  );
}
