// The module graph stays a tree of floors (issue 14): no import cycle anywhere in lib/, the
// open-span table knows no tracer, and the buffered middleware takes nothing but the class from
// middleware.ts (shared span helpers live in request-span.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Each lib/ module (relative path) with the lib/ modules it imports or re-exports from, and what it names. */
function graph(): Map<string, { module: string; names: string }[]> {
  const out = new Map<string, { module: string; names: string }[]>();
  for (const file of sources(LIB)) {
    const text = readFileSync(file, 'utf8');
    const edges = [...text.matchAll(/^(?:import|export)\s([^;]*?)\sfrom\s+'(\.[^']+)'/gms)].map(([, names, spec]) => ({
      module: relative(LIB, normalize(join(dirname(file), spec!.replace(/\.js$/, '.ts')))),
      names: names!,
    }));
    out.set(relative(LIB, file), edges);
  }
  return out;
}

test('no import cycle in lib/', () => {
  const edges = graph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (module: string, path: string[]) => {
    state.set(module, 'open');
    for (const { module: next } of edges.get(module) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(module, 'done');
  };
  for (const module of edges.keys()) if (!state.has(module)) visit(module, [module]);
  assert.deepEqual(cycles, []);
});

test('open-spans imports no tracer; buffered-middleware takes only the middleware class from middleware.ts', () => {
  const edges = graph();
  const openSpans = edges.get(join('ecosystem', 'open-spans.ts'))!.map((e) => e.module);
  assert.ok(!openSpans.includes(join('trace', 'tracer.ts')), openSpans.join(', '));
  const fromMiddleware = edges
    .get(join('ecosystem', 'buffered-middleware.ts'))!
    .filter((e) => e.module === join('ecosystem', 'middleware.ts'))
    .map((e) => e.names.replace(/\s+/g, ' ').trim());
  assert.deepEqual(fromMiddleware, ['{ OtlpTracingMiddleware }']);
});

test('the main entry reaches no lib/api module: the span API is the "./handler" entry, behind the seam', () => {
  const edges = graph();
  const seen = new Set<string>();
  const visit = (module: string) => {
    if (seen.has(module)) return;
    seen.add(module);
    for (const { module: next } of edges.get(module) ?? []) visit(next);
  };
  visit('index.ts');
  assert.ok(seen.has(join('ecosystem', 'handler-context.ts')), [...seen].join(', '));
  assert.deepEqual([...seen].filter((module) => module.startsWith(`api${sep}`)), []);
});
