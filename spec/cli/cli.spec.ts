// The `ekosis-otlp-traces` CLI: help and usage errors in-process through main(), `receive`
// in-process and as a real process (node --import tsx lib/cli/main.ts) over real HTTP.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../lib/cli/main.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'lib', 'cli', 'main.ts');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function io(signal?: AbortSignal) {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
      signal,
    },
  };
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { out, io: streams } = io();
  const code = await main(argv, streams);
  return { code, ...out };
}

const PAYLOAD = JSON.stringify({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tracker-0' } }] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '3f2a1b4c5d6e4f8091a2b3c4d5e6f708',
              spanId: '9a11a39bb8366555',
              parentSpanId: '9c7e5a3b1d0f2e4c',
              flags: 769,
              name: 'tracker.log_request',
              kind: 2,
              startTimeUnixNano: '1795500582252000000',
              endTimeUnixNano: '1795500582255655140',
              attributes: [{ key: 'request.route_key', value: { stringValue: 'tracker.log_request' } }],
              status: { code: 1 },
            },
          ],
        },
      ],
    },
  ],
});

const TREE = `trace 3f2a1b4c5d6e4f8091a2b3c4d5e6f708
└─ tracker.log_request  [tracker-0]  SERVER  3.655 ms  OK  ↑ remote parent 9c7e5a3b1d0f2e4c
     request.route_key = "tracker.log_request"
`;

async function post(url: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  return { status: res.status, body: await res.text() };
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The CLI (SCRIPT, through tsx) as a child process: its output so far, and its exit code once it exits. */
function runCli(
  script: string,
  ...args: string[]
): { child: ChildProcess; stdout: string; stderr: string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<number | null>((resolve) => child.once('exit', resolve)),
  };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (run.stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (run.stderr += s));
  return run;
}

describe('cli help and usage', () => {
  it('--help, -h and help on the top level', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const { code, stdout, stderr } = await run(argv);
      assert.equal(code, 0);
      assert.equal(stderr, '');
      assert.match(stdout, /^Usage: ekosis-otlp-traces <command> \[options\]\n/);
      assert.match(stdout, /\n {2}receive {3}run a local OTLP\/HTTP JSON receiver/);
      assert.match(stdout, /\n {2}show {6}print the traces recorded in an NDJSON file/);
      assert.match(stdout, /\n {2}-V, --version {2}print the version\n/);
    }
  });

  it('--help and -h on every command, also among other options', async () => {
    for (const argv of [
      ['receive', '--help'],
      ['receive', '-h'],
      ['receive', '--port', '1', '--help'],
      ['help', 'receive'],
    ]) {
      const { code, stdout, stderr } = await run(argv);
      assert.equal(code, 0, argv.join(' '));
      assert.equal(stderr, '');
      assert.match(
        stdout,
        /^Usage: ekosis-otlp-traces receive \[--port 4318\] \[--host 127\.0\.0\.1\] \[--record FILE\]\n/,
      );
      for (const opt of ['--port N', '--host HOST', '--record FILE', '-h, --help']) {
        assert.ok(stdout.includes(`\n  ${opt} `), opt);
      }
    }
    for (const argv of [['show', '--help'], ['show', '-h'], ['show', 'x.ndjson', '-h'], ['help', 'show']]) {
      const { code, stdout, stderr } = await run(argv);
      assert.equal(code, 0, argv.join(' '));
      assert.equal(stderr, '');
      assert.match(stdout, /^Usage: ekosis-otlp-traces show FILE\n/);
      assert.ok(stdout.includes('blank lines are ignored'));
    }
  });

  it('--version prints the package version', async () => {
    assert.deepEqual(await run(['--version']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
    assert.deepEqual(await run(['-V']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('usage errors are one line on stderr with exit code 2', async () => {
    const cases: [string[], string][] = [
      [['frob'], 'unknown command "frob" (see ekosis-otlp-traces --help)'],
      [['--frob'], 'unknown option --frob (see ekosis-otlp-traces --help)'],
      [['receive', '--prot', '1'], 'unknown option --prot for "receive" (see ekosis-otlp-traces receive --help)'],
      [['receive', '--port'], 'option --port needs a value (see ekosis-otlp-traces receive --help)'],
      [['receive', '--port', 'http'], '--port must be a number from 0 to 65535, got "http"'],
      [['receive', '--port=65536'], '--port must be a number from 0 to 65535, got "65536"'],
      [['receive', 'extra'], 'unexpected argument "extra" (see ekosis-otlp-traces receive --help)'],
      [['show', '--record', 'x'], 'unknown option --record for "show" (see ekosis-otlp-traces show --help)'],
    ];
    for (const [argv, message] of cases) {
      assert.deepEqual(
        await run(argv),
        { code: 2, stdout: '', stderr: `ekosis-otlp-traces: ${message}\n` },
        argv.join(' '),
      );
    }
    const bare = await run([]);
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /^Usage: ekosis-otlp-traces <command>/);
  });
});

describe('cli receive', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ekosis-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('in-process: listens, records, prints the tree, stops cleanly when told', async () => {
    const record = join(dir, 'in-process.ndjson');
    const stop = new AbortController();
    const { out, io: streams } = io(stop.signal);
    const exit = main(['receive', '--port=0', '--record', record], streams);
    await until(() => out.stdout.includes('\n'), 'the listening line');
    const url = /^listening on (http:\/\/127\.0\.0\.1:\d+\/v1\/traces)\n/.exec(out.stdout)?.[1];
    assert.ok(url, out.stdout);
    assert.deepEqual(await post(url, PAYLOAD), { status: 200, body: '{}' });
    const bad = await post(url, PAYLOAD.replace('"kind":2', '"kind":"SERVER"'));
    assert.equal(bad.status, 400);
    stop.abort();
    assert.equal(await exit, 0);
    assert.equal(
      out.stdout,
      `listening on ${url}\nrecording payloads to ${record}\n${TREE}\nstopped: received 1 payload (1 span)\n`,
    );
    assert.equal(
      out.stderr,
      'rejected POST /v1/traces: 400 resourceSpans[0].scopeSpans[0].spans[0].kind: ' +
        'expected a SpanKind as an integer 0..5 or a name like "SPAN_KIND_INTERNAL", got "SERVER"\n',
    );
    assert.equal(readFileSync(record, 'utf8'), PAYLOAD + '\n');
    await assert.rejects(post(url, PAYLOAD)); // closed
  });

  it('as a real process: SIGINT stops it cleanly with exit code 0', async () => {
    const record = join(dir, 'process.ndjson');
    const run = runCli(CLI, 'receive', '--port', '0', '--record', record);
    const { child } = run;
    try {
      await until(() => run.stdout.includes('recording payloads to'), 'the CLI to listen', 20_000);
      const url = /^listening on (\S+)\n/.exec(run.stdout)![1]!;
      assert.deepEqual(await post(url, PAYLOAD), { status: 200, body: '{}' });
      await until(() => run.stdout.includes('OK  ↑ remote parent'), 'the printed tree');
      child.kill('SIGINT');
      assert.equal(await run.exited, 0);
      assert.equal(
        run.stdout,
        `listening on ${url}\nrecording payloads to ${record}\n${TREE}\nstopped: received 1 payload (1 span)\n`,
      );
      assert.equal(run.stderr, '');
      assert.equal(readFileSync(record, 'utf8'), PAYLOAD + '\n');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('as a real process: a port in use is one line on stderr and exit code 1', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = runCli(CLI, 'receive', '--port', String(port));
      assert.equal(await run.exited, 1);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        `port ${port} on 127.0.0.1 is already in use (pick another with --port, or --port 0 for any free port)\n`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('runs when started through a symlink, as npm installs the bin', async () => {
    const link = join(dir, 'ekosis-otlp-traces.ts');
    symlinkSync(CLI, link);
    const run = runCli(link, '--version');
    assert.equal(await run.exited, 0);
    assert.equal(run.stdout, `${VERSION}\n`);
    assert.equal(run.stderr, '');
  });

  it('is not run on import: importing lib/cli/main.ts only defines main()', async () => {
    const mod = await import('../../lib/cli/main.js');
    assert.equal(typeof mod.main, 'function');
  });
});
