// `npm run demo` end to end: the demo runs as its own process (real receiver on a free port,
// real HTTP from two tracers), prints the trees, exits 0 and leaves nothing running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderTrees } from '../lib/cli/tree.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'docs/examples/demo.ts'], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // The demo exits by itself when nothing is left running; a hang is a failure, not a wait.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The lines between a `== title ==` heading and the next heading. */
function section(stdout: string, title: string): string {
  const start = stdout.indexOf(`== ${title}`);
  assert.ok(start >= 0, `no section "${title}" in:\n${stdout}`);
  const body = stdout.slice(stdout.indexOf('\n', start) + 1);
  const end = body.indexOf('\n== ');
  return end < 0 ? body : body.slice(0, end + 1);
}

const MS = String.raw`\d+\.\d{3} ms`;
const HEX16 = '[0-9a-f]{16}';

describe('npm run demo', () => {
  it('prints the tracker and billing trees, nested across the hop, and exits 0 within seconds', async () => {
    const { code, stdout, stderr, ms } = await runDemo();
    assert.equal(code, 0, `exit code ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.equal(stderr, '', 'the demo writes no warnings');
    assert.ok(ms < 20_000, `took ${ms} ms`);

    const record = /^(\d+) payloads recorded to (.+)$/m.exec(stdout);
    assert.ok(record, 'names the recording');
    const file = record[2]!;
    try {
      assert.match(stdout, /^receiver listening on http:\/\/127\.0\.0\.1:\d+\/v1\/traces, recording to /m);

      // As they arrive: one payload per step and service, the billing span alone (its parent
      // was sent by the tracker in another payload).
      assert.match(stdout, /^-- receiver: payload 1 from tracker-0 --$/m);
      assert.match(stdout, /^-- receiver: payload 4 from billing-0 --$/m);
      assert.match(
        stdout,
        new RegExp(
          `^└─ billing\\.record_usage  \\[billing-0\\]  SERVER  ${MS}  OK  ↑ remote parent ${HEX16}$`,
          'm',
        ),
      );

      // All together: the three trees, with billing's span nested under the tracker's.
      const all = section(stdout, 'all payloads together');
      const expected = [
        new RegExp(`^└─ tracker\\.log_request  \\[tracker-0\\]  SERVER  ${MS}  OK  ↑ remote parent ${HEX16}$`),
        /^ {5}request\.route_key = "tracker\.log_request"$/,
        new RegExp(
          `^└─ tracker\\.log_request_fail  \\[tracker-0\\]  SERVER  ${MS}  OK  ↑ remote parent ${HEX16}$`,
        ),
        new RegExp(
          `^   ├─ LogRequestFailDTO\\.process  \\[tracker-0\\]  CONSUMER  ${MS}  ERROR: process attempt failed$`,
        ),
        /^ {3}│ {4}request\.retries {3}= 0$/,
        /^ {3}│ {4}process\.success {3}= false$/,
        new RegExp(`^   └─ LogRequestFailDTO\\.process  \\[tracker-0\\]  CONSUMER  ${MS}  OK$`),
        /^ {8}request\.retries {3}= 1$/,
        /^ {8}process\.success {3}= true$/,
        new RegExp(`^└─ tracker\\.report_usage  \\[tracker-0\\]  SERVER  ${MS}  OK  ↑ remote parent ${HEX16}$`),
        new RegExp(`^   └─ billing\\.record_usage  \\[billing-0\\]  SERVER  ${MS}  OK$`),
      ];
      // In this order, each pattern on a line of its own.
      const lines = all.split('\n');
      let at = 0;
      for (const re of expected) {
        const i = lines.findIndex((l, j) => j >= at && re.test(l));
        assert.ok(i >= 0, `no line matching ${re} after line ${at} of:\n${all}`);
        at = i + 1;
      }
      assert.equal(all.match(/^trace [0-9a-f]{32}$/gm)?.length, 3, 'three traces');

      // The counts add up and nothing was lost.
      assert.match(
        stdout,
        new RegExp(
          '^tracker-0: ended 5, exported 5, dropped 0, rejected 0, failed 0, queued 0, inFlight 0; ' +
            'retries 0, \\d+ bytes sent$',
          'm',
        ),
      );
      assert.match(
        stdout,
        new RegExp(
          '^billing-0: ended 1, exported 1, dropped 0, rejected 0, failed 0, queued 0, inFlight 0; ' +
            'retries 0, \\d+ bytes sent$',
          'm',
        ),
      );

      // The recording holds exactly what was printed: `show FILE` gives the same trees.
      assert.ok(existsSync(file), `${file} exists`);
      const payloads = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
      assert.equal(payloads.length, Number(record[1]));
      assert.equal(payloads.length, 4);
      assert.equal(renderTrees(payloads).trimEnd(), all.trimEnd());

      // On the wire: billing's span is the child of the tracker span that forwarded the request.
      type WireSpan = { name: string; spanId: string; parentSpanId?: string; traceId: string };
      type Wire = { resourceSpans: { scopeSpans: { spans: WireSpan[] }[] }[] };
      const spans = (payloads as Wire[]).flatMap((p) =>
        p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
      );
      const report = spans.find((s) => s.name === 'tracker.report_usage')!;
      const bill = spans.find((s) => s.name === 'billing.record_usage')!;
      assert.equal(bill.traceId, report.traceId);
      assert.equal(bill.parentSpanId, report.spanId);
    } finally {
      if (basename(dirname(file)).startsWith('ekosis-otlp-traces-demo-')) {
        rmSync(dirname(file), { recursive: true, force: true });
      }
    }
  });
});
