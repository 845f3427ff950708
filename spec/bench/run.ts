// `npm run bench`: this package's own figures, medians of fresh processes (the modes alternate
// round by round, so background load spreads over all of them). Benchmarks, not tests: nothing
// here asserts a time. The workers import the package source, lib/index.ts, through tsx
// (BENCH_ENTRY=dist/index.js measures the build instead).
//   npm run bench [-- --rounds 5] [-- --only request,encode,throughput,heap,span-api,size]
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSink } from './sink.ts';
import { measureSizes } from './size.ts';

const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const rounds = Number(opt('rounds', '5'));
const only = new Set(opt('only', 'request,encode,throughput,heap,size').split(','));

const sink = await startSink();

type Result = Record<string, number & unknown> & { samples_mb?: number[]; warm_mb?: number[] };

function run(mode: string, extraArgs: string[] = [], n?: number): Promise<Result> {
  const args = ['--import', 'tsx', ...extraArgs, worker, mode, sink.url, ...(n === undefined ? [] : [String(n)])];
  return new Promise((resolve, reject) => {
    const options = { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 20 } as const;
    execFile(process.execPath, args, options, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${mode} failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Result);
      } catch {
        reject(new Error(`${mode}: no result in ${JSON.stringify(stdout.slice(-500))}\n${stderr}`));
      }
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const got: Record<string, number[]> = {};
const add = (k: string, v: number): void => void (got[k] ??= []).push(v);
const t0 = Date.now();

for (let r = 0; r < rounds; r++) {
  if (only.has('request')) {
    const ours = await run('request');
    const floor = await run('floor');
    add('request', ours.ns_per_request);
    add('floor', floor.ns_per_request);
    add('request_over_floor', ours.ns_per_request - floor.ns_per_request);
  }
  if (only.has('span-api')) {
    const off = await run('handler-off');
    const handler = await run('handler');
    const annotate = await run('annotate');
    const withspan = await run('withspan');
    add('handler-off', off.ns_per_request);
    add('handler', handler.ns_per_request);
    add('context', handler.ns_per_request - off.ns_per_request);
    add('annotate', annotate.ns_per_request - handler.ns_per_request);
    add('withspan', withspan.ns_per_request - handler.ns_per_request);
  }
  if (only.has('encode')) {
    const e = await run('encode');
    add('encode', e.ns_per_span);
  }
  if (only.has('throughput')) {
    sink.reset();
    const t = await run('throughput');
    add('throughput', t.spans_per_s);
    add('export_cpu', t.export_cpu_us_per_span);
    add('e2e_cpu', t.e2e_cpu_us_per_span);
    add('wire', sink.counts.bytes / Math.max(1, sink.counts.spans));
    add('delivered', sink.counts.spans / Math.max(1, t.exported));
  }
}

let heapLine: string | undefined;
if (only.has('heap')) {
  const h = await run('heap', ['--expose-gc']);
  const s = h.samples_mb!;
  heapLine =
    `${s[0]!.toFixed(2)} → ${s[s.length - 1]!.toFixed(2)} MB (max ${Math.max(...s).toFixed(2)}; ` +
    `each second: ${s.map((x) => x.toFixed(2)).join(' ')}; ` +
    `warm-up: ${(h.warm_mb as unknown as number[]).map((x) => x.toFixed(2)).join(' ')}); ` +
    `${Math.round(h.rate as number)} spans/s offered, ${h.exported} exported, ${h.dropped} dropped` +
    ((h.dropped as number) > 0
      ? ` (cumulative by second: ${(h.dropped_by_second as unknown as number[]).join(' ')})`
      : '') +
    `, ${h.failed} failed`;
}
await sink.close();

const rows: [string, string, string][] = [];
const row = (label: string, key: string, unit: string, digits: number): void => {
  const xs = got[key];
  if (!xs) return;
  rows.push([label, median(xs).toFixed(digits) + ' ' + unit, xs.map((x) => x.toFixed(digits)).join(' ')]);
};
row('encode, per span (512-span batch, JSON+UTF-8)', 'encode', 'ns', 0);
row('request path, per request (before+afterRouting)', 'request', 'ns', 0);
row('  harness floor (two empty async hooks)', 'floor', 'ns', 0);
row('  request path minus floor', 'request_over_floor', 'ns', 0);
row('request path with an empty async handler', 'handler-off', 'ns', 0);
row('  same, handler context on (handlerSpans: true)', 'handler', 'ns', 0);
row('  the context\'s own cost per request', 'context', 'ns', 0);
row('  + one currentSpan().setAttribute', 'annotate', 'ns', 0);
row('  + one withSpan around an async step', 'withspan', 'ns', 0);
row('exporter throughput (loopback sink)', 'throughput', 'spans/s', 0);
row('  exporter CPU per span', 'export_cpu', 'µs', 3);
row('  end-to-end CPU per span (request+export)', 'e2e_cpu', 'µs', 3);
row('wire bytes per span', 'wire', 'B', 1);
row('  delivered / exported', 'delivered', '', 3);

const w0 = Math.max(...rows.map((r) => r[0].length), 24);
const w1 = Math.max(...rows.map((r) => r[1].length), 8);
console.log(
  `npm run bench: ${process.env.BENCH_ENTRY ?? 'lib/index.ts'} on node ${process.version}, ` +
    `medians of ${rounds} fresh processes per figure`,
);
console.log(`${'figure'.padEnd(w0)}  ${'median'.padStart(w1)}  runs`);
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
if (heapLine) console.log(`${'heap after GC at 100k spans/s, 10 s after 3 s warm-up'.padEnd(w0)}  ${heapLine}`);
if (only.has('size')) {
  // Bytes are exact: one measurement, no median needed.
  for (const s of measureSizes()) {
    console.log(`${('bundle: ' + s.label).padEnd(w0)}  ${s.min} B min, ${s.gzip} B min+gzip`);
  }
}
console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
