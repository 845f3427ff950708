// House style, checked rather than argued: every TypeScript file of the project is as the
// formatter (spec/style/format.ts, TypeScript's own) leaves it, and has lines of at most
// MAX_LINE characters, no tabs, no trailing spaces, and a final newline. Types, unused names
// included, are checked by `npm run lint` (tsc on tsconfig.json and spec/tsconfig.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_LINE, ROOT, formatted, sourceFiles } from './style/format.ts';

describe('style', () => {
  const files = sourceFiles();

  it('finds the sources', () => {
    assert.ok(files.includes('lib/index.ts') && files.includes('spec/style.spec.ts'), files.join());
  });

  it(`lines of at most ${MAX_LINE} characters, no tabs, no trailing spaces, a final newline`, () => {
    const problems: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      if (!text.endsWith('\n')) problems.push(`${file}: no final newline`);
      text.split('\n').forEach((line, i) => {
        const where = `${file}:${i + 1}`;
        if (line.length > MAX_LINE) problems.push(`${where}: ${line.length} characters`);
        if (line.includes('\t')) problems.push(`${where}: tab`);
        if (/\s$/.test(line)) problems.push(`${where}: trailing space`);
      });
    }
    assert.deepEqual(problems, []);
  });

  it('the formatter has nothing to change (npm run format)', () => {
    assert.deepEqual([...formatted(files).keys()], []);
  });
});
