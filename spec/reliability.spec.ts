// Fault injection: the tracer against a programmable OTLP receiver that is down, hangs, is
// slow, flaps, throttles, rejects, answers partially, answers garbage, streams 50 MB, or resets
// the connection. Whatever the endpoint does: the hooks never throw and stay cheap, nothing
// rejects unhandled, the stats add up, no span is delivered twice (except after an attempt
// that timed out although the server had received it), shutdown meets its deadline, memory
// stays bounded, timers do not hold the process, and secrets never reach any output.
// Every loop is bounded in count and time; timings are asserted with generous margins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { OtlpTracingMiddleware, type ExportStats, type RequestDTO } from '../lib/index.ts';
import { failOnUnhandled } from './helpers/no-unhandled.ts';
import { FakeReceiver, OK, refusedPort, type Answer, type Plan } from './helpers/receiver-fake.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(ROOT, 'spec', 'helpers', 'reliability-child.ts');

// ---------------------------------------------------------------------------------------------
// Nothing may reject unhandled or throw uncaught, in any scenario.
failOnUnhandled();

// ---------------------------------------------------------------------------------------------
// Helpers

const SECRET_HEADERS = { authorization: 'Bearer SECRET-123', 'x-api-key': 'KEY-456' };
const SECRETS = ['SECRET-123', 'KEY-456'];
/** Every logged line of every scenario, for the secrets check at the end. */
const allLines: string[] = [];
/** Scenario → figures, printed as a diagnostic at the end. */
const figures: Record<string, unknown>[] = [];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function dto(i: number): RequestDTO {
  const h = (0x7e000000 + i).toString(16).padStart(32, '0');
  return {
    route_key: 'tracker.log_request',
    span_key: {
      trace_id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
      span_id: 'a' + i.toString(16).padStart(15, '0'),
    },
    data: { i },
  };
}

function addsUp(s: ExportStats, label: string): void {
  const accounted = s.exported + s.dropped + s.rejected + s.failed + s.queued + s.inFlight;
  assert.equal(accounted, s.ended, `${label}: stats add up: ${JSON.stringify(s)}`);
}

function noSecrets(text: string, label: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${label}: secret ${s} leaked in: ${text.slice(0, 500)}`);
}

/** Resolves with the value, or 'timeout' after ms (the timer never outlives the race). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'timeout'>((resolve) => (t = setTimeout(() => resolve('timeout'), ms)));
  const r = await Promise.race([p, late]);
  clearTimeout(t);
  return r;
}

/** Runs `requests` requests through both hooks in bursts, yielding between bursts; returns the hooks' total time. */
async function drive(mw: OtlpTracingMiddleware, requests: number, from = 0): Promise<number> {
  let hookMs = 0;
  let throws = 0;
  for (let i = from; i < from + requests; i++) {
    const d = dto(i);
    const res = { ok: i };
    const t0 = performance.now();
    try {
      const a = await mw.beforeRouting({ protocolDto: d });
      const b = await mw.afterRouting({ protocolDto: d, responseDto: res });
      assert.equal(a, d);
      assert.equal(b, res);
    } catch {
      throws++;
    }
    hookMs += performance.now() - t0;
    if (i % 100 === 99) await new Promise<void>((r) => setImmediate(r)); // let exports run
  }
  assert.equal(throws, 0, 'the hooks never throw');
  return hookMs;
}

/** Runs a child script under node --expose-gc with tsx; resolves with its exit and stdout JSON. */
interface ChildResult {
  code: number | null;
  ms: number;
  out: any;
  stderr: string;
  killed: boolean;
}

function child(args: string[], timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const argv = ['--expose-gc', '--import', 'tsx', CHILD, ...args];
    const p = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const kill = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(kill);
      let out: any;
      try {
        out = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        out = undefined;
      }
      resolve({ code, ms: performance.now() - t0, out, stderr, killed });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The fault modes

interface Scenario {
  name: string;
  /** The receiver's behaviour; undefined = nothing listening (connection refused). */
  plan?: Plan;
  /** Overrides of the common options. */
  options?: Record<string, unknown>;
  /** Wait for forceFlush to complete before shutdown (false: let the shutdown deadline cut it). */
  flush: boolean;
  check(s: ExportStats, rcv: FakeReceiver | undefined, lines: string[]): void;
}

const REQUESTS = 2000;
const DEADLINE = 1500;
const COMMON = {
  serviceName: 'tracker-0',
  headers: SECRET_HEADERS,
  maxExportBatchSize: 200,
  scheduledDelayMillis: 20,
  timeoutMillis: 1000,
  shutdownTimeoutMillis: DEADLINE,
  retry: { maxAttempts: 3, initialBackoffMillis: 20, maxBackoffMillis: 100, maxRetryAfterMillis: 100 },
};

const ok200: Answer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
const firstAttempt = (first: Answer, then: Answer = ok200): Plan => ({ req }) => (req.attempt === 1 ? first : then);

function allExported(s: ExportStats): void {
  assert.equal(s.exported, REQUESTS);
  assert.equal(s.dropped + s.rejected + s.failed, 0);
}

function noneExported(s: ExportStats): void {
  assert.equal(s.exported, 0);
  assert.equal(s.rejected, 0);
  assert.equal(s.failed + s.dropped, REQUESTS);
}

const scenarios: Scenario[] = [
  {
    name: 'healthy (baseline)',
    plan: OK,
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.equal(s.retries, 0);
      assert.equal(rcv!.accepted().size, REQUESTS);
    },
  },
  {
    name: 'down (connection refused)',
    flush: true,
    check: (s, _rcv, lines) => {
      assert.equal(s.failed, REQUESTS);
      assert.equal(s.exported + s.dropped + s.rejected, 0);
      assert.ok(s.retries > 0);
      assert.match(lines.join('\n'), /ECONNREFUSED/);
    },
  },
  {
    name: 'hang (accepts, never answers)',
    plan: () => ({ hang: true }),
    options: { timeoutMillis: 250 },
    flush: false,
    check: (s, rcv) => {
      noneExported(s);
      assert.ok(rcv!.requests.length > 0);
      assert.equal(rcv!.answered().length, 0);
    },
  },
  {
    name: 'slow (answers after 150 ms, within the timeout)',
    plan: () => ({ slow: 150, then: ok200 }),
    options: { timeoutMillis: 3000 },
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.equal(rcv!.unanswered().length, 0);
    },
  },
  {
    name: 'slow beyond the timeout (answers after 700 ms, timeout 200 ms)',
    plan: () => ({ slow: 700, then: ok200 }),
    options: { timeoutMillis: 200 },
    flush: false,
    check: (s, rcv) => {
      noneExported(s);
      assert.equal(rcv!.answered().length, 0, 'the client had always left before the late answer');
    },
  },
  {
    name: 'flapping (503 + Retry-After, then 200)',
    plan: firstAttempt({ status: 503, headers: { 'retry-after': '1' }, body: 'maintenance' }),
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      const payloads = rcv!.requests.filter((r) => r.attempt === 1).length;
      assert.equal(s.retries, payloads, 'each payload re-sent exactly once');
    },
  },
  {
    name: 'throttling (429 twice, then 200)',
    plan: ({ req }) => (req.attempt <= 2 ? { status: 429, body: 'rate limited' } : ok200),
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.equal(s.retries, 2 * rcv!.requests.filter((r) => r.attempt === 1).length);
    },
  },
  {
    name: 'rejecting 400',
    plan: () => ({ status: 400, body: 'bad payload' }),
    flush: true,
    check: (s, rcv, lines) => {
      assert.equal(s.rejected, REQUESTS);
      assert.equal(s.retries, 0);
      assert.equal(rcv!.requests.filter((r) => r.attempt > 1).length, 0, 'never re-sent');
      assert.match(lines[0]!, /HTTP 400: bad payload; \d+ spans rejected/);
    },
  },
  {
    name: 'rejecting 401 (and echoing the credentials back)',
    plan: ({ req }) => ({
      status: 401,
      body: `unauthorized: authorization=${req.headers.authorization} x-api-key=${req.headers['x-api-key']}`,
    }),
    flush: true,
    check: (s, _rcv, lines) => {
      assert.equal(s.rejected, REQUESTS);
      assert.match(lines[0]!, /HTTP 401: unauthorized: authorization=\[redacted\] x-api-key=\[redacted\]; 200 spans/);
    },
  },
  {
    name: 'rejecting 413 (more than 60 spans per request)',
    plan: ({ req }) => (req.spans.length > 60 ? { status: 413, body: 'too large' } : ok200),
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.ok(rcv!.requests.some((r) => r.status === 413));
      assert.equal(rcv!.accepted().size, REQUESTS);
    },
  },
  {
    name: 'partial success (2 rejected per request, message echoing a secret)',
    plan: () => ({
      status: 200,
      body: '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"dropped 2 spans for key KEY-456"}}',
    }),
    flush: true,
    check: (s, rcv, lines) => {
      const accepted = rcv!.answered().length;
      assert.equal(s.rejected, 2 * accepted);
      assert.equal(s.exported, REQUESTS - 2 * accepted);
      assert.match(lines[0]!, /2 spans rejected: dropped 2 spans for key \[redacted\]/);
    },
  },
  {
    name: 'malformed 200 body',
    plan: () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"partialSuccess": <<<garbage',
    }),
    flush: true,
    check: (s) => allExported(s),
  },
  {
    name: 'huge 50 MB streamed response body',
    plan: () => ({ hugeBody: 50 * 1024 * 1024 }),
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.equal(rcv!.hugeBodiesCompleted, 0, 'no body was read to the end');
    },
  },
  {
    name: 'connection reset mid-response',
    plan: () => ({ resetMidResponse: true }),
    flush: true,
    check: (s, rcv) => {
      allExported(s);
      assert.equal(s.retries, 0, 'the status arrived: no re-send');
      assert.equal(rcv!.requests.filter((r) => r.attempt > 1).length, 0);
    },
  },
  {
    name: 'connection reset before any response',
    plan: () => ({ resetBeforeResponse: true }),
    flush: true,
    check: (s, rcv) => {
      assert.equal(s.failed, REQUESTS);
      assert.equal(rcv!.answered().length, 0);
    },
  },
];

for (const sc of scenarios) {
  test(`fault: ${sc.name}`, async (t) => {
    const rcv = sc.plan ? await FakeReceiver.start(sc.plan) : undefined;
    const endpoint = rcv ? rcv.url : `http://127.0.0.1:${await refusedPort()}/v1/traces`;
    const lines: string[] = [];
    try {
      const logger = (m: string) => void lines.push(m);
      const mw = new OtlpTracingMiddleware({ ...COMMON, endpoint, ...sc.options, logger });
      const hookMs = await drive(mw, REQUESTS);
      // 4000 hook calls: normally a few ms in all. The bound only catches blocking or I/O on the request path.
      assert.ok(hookMs < 2000, `hooks took ${hookMs.toFixed(0)} ms for ${REQUESTS} requests`);
      addsUp(mw.stats(), sc.name);

      if (sc.flush) assert.notEqual(await within(mw.forceFlush(), 15_000), 'timeout', 'forceFlush completes');
      addsUp(mw.stats(), sc.name);

      const t0 = performance.now();
      const done = await within(mw.shutdown(), DEADLINE + 3000);
      const shutdownMs = performance.now() - t0;
      assert.notEqual(done, 'timeout');
      assert.ok(shutdownMs < DEADLINE + 1000, `shutdown took ${shutdownMs.toFixed(0)} ms (deadline ${DEADLINE})`);
      const s = mw.stats();
      addsUp(s, sc.name);
      assert.equal(s.ended, REQUESTS);
      assert.equal(s.queued + s.inFlight, 0, 'nothing left pending after shutdown');

      // Second shutdown: harmless; afterwards the hooks pass through and create no spans.
      assert.notEqual(await within(mw.shutdown(), 200), 'timeout');
      const received = rcv?.requests.length ?? 0;
      const d = dto(999_999);
      assert.equal(await mw.beforeRouting({ protocolDto: d }), d);
      assert.equal(await mw.afterRouting({ protocolDto: d, responseDto: 'r' }), 'r');
      assert.deepEqual(mw.stats(), s);

      sc.check(s, rcv, lines);

      if (rcv) {
        // Duplicates: a span may arrive again only after an attempt the client got no answer to.
        for (const dup of rcv.duplicates()) {
          const answered2xx = dup.requests.filter((r) => r.status !== undefined);
          assert.ok(answered2xx.length <= 1, `span ${dup.spanId} accepted ${answered2xx.length} times`);
        }
        if (rcv.unanswered().length === 0) {
          assert.deepEqual(rcv.duplicates(), [], 'no duplicates without a timed-out attempt');
        }
        await sleep(30);
        assert.equal(rcv.requests.length, received, 'no request after shutdown');
      }

      // Diagnostics: few lines, each saying what happened and what it cost; no secrets anywhere.
      assert.ok(lines.length <= 4, `rate-limited diagnostics:\n${lines.join('\n')}`);
      // (A held-back summary of retries that cost nothing says how many, not spans.)
      const says = /^\[ekosis-otlp-traces\] .*(\d+ spans?|: \d+ more like it$)/;
      for (const l of lines) assert.match(l, says, `says how many spans: ${l}`);
      noSecrets(lines.join('\n'), sc.name);
      noSecrets(JSON.stringify(s), sc.name);
      allLines.push(...lines);

      const row = {
        scenario: sc.name,
        requests: rcv?.requests.length ?? 0,
        delivered: s.exported,
        dropped: s.dropped,
        rejected: s.rejected,
        failed: s.failed,
        retries: s.retries,
        duplicatesAtServer: rcv?.duplicates().length ?? 0,
        hookMs: Math.round(hookMs),
        shutdownMs: Math.round(shutdownMs),
        lines: lines.length,
      };
      figures.push(row);
      t.diagnostic(JSON.stringify(row));
    } finally {
      await rcv?.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Memory, exit, diagnostics

test('memory: 300k spans while the endpoint is down stay within a few MB; drops counted exactly', async (t) => {
  const port = await refusedPort();
  const r = await child(['memory-down', `http://127.0.0.1:${port}/v1/traces`, '300000'], 30_000);
  assert.equal(r.killed, false, 'child finished');
  assert.equal(r.code, 0, r.stderr);
  const o = r.out;
  const s: ExportStats = o.stats;
  assert.equal(s.ended, 300_001);
  addsUp(s, 'memory');
  assert.equal(s.exported + s.rejected, 0);
  assert.equal(s.dropped, s.ended - s.queued - s.inFlight - s.failed, 'dropped = ended - the rest');
  assert.ok(s.queued <= 2048 && s.inFlight <= 2 * 512, JSON.stringify(s));
  // Baseline taken with the tracer loaded and idle: the full queue (2048 + 1024 spans) is the only growth.
  assert.ok(o.deltaFromEmptyMB < 6, `heap grew ${o.deltaFromEmptyMB.toFixed(2)} MB for 300k spans`);
  // From a full queue on, the next 290k spans cost nothing.
  assert.ok(Math.abs(o.deltaFromFullMB) < 1.5, `heap grew ${o.deltaFromFullMB.toFixed(2)} MB past a full queue`);
  const f: ExportStats = o.final;
  addsUp(f, 'memory after shutdown');
  assert.equal(f.queued + f.inFlight, 0);
  assert.ok(o.shutdownMs < 300 + 1000);
  assert.ok(o.lines.length <= 4, o.lines.join('\n'));
  figures.push({
    scenario: 'memory: 300k spans, endpoint down',
    delivered: f.exported,
    dropped: f.dropped,
    failed: f.failed,
    heapDeltaMB: +o.deltaFromEmptyMB.toFixed(2),
    heapDeltaPastFullQueueMB: +o.deltaFromFullMB.toFixed(2),
    hookMs: Math.round(o.hookMs),
    shutdownMs: Math.round(o.shutdownMs),
  });
  t.diagnostic(JSON.stringify(figures.at(-1)));
});

test('a hostile 50 MB response body never enters memory, and the export completes', async (t) => {
  const rcv = await FakeReceiver.start(() => ({ hugeBody: 50 * 1024 * 1024 }));
  try {
    const r = await child(['huge-body', rcv.url, '3'], 30_000);
    assert.equal(r.killed, false);
    assert.equal(r.code, 0, r.stderr);
    const o = r.out;
    assert.equal(o.stats.exported, 31);
    assert.equal(o.stats.failed + o.stats.rejected + o.stats.dropped, 0);
    assert.equal(rcv.hugeBodiesCompleted, 0);
    // 4 responses of 50 MB: the client read a capped prefix of each and hung up.
    const wroteMB = (rcv.hugeBytesWritten / 1048576).toFixed(1);
    assert.ok(rcv.hugeBytesWritten < (4 * 50 * 1024 * 1024) / 2, `server managed to write ${wroteMB} MB`);
    assert.ok(o.peakDeltaMB < 16, `peak heap + buffers grew ${o.peakDeltaMB.toFixed(1)} MB`);
    assert.ok(Math.abs(o.deltaAfterGcMB) < 2, `heap after GC grew ${o.deltaAfterGcMB.toFixed(2)} MB`);
    assert.ok(o.exportMs < 10_000);
    figures.push({
      scenario: 'huge 50 MB body (child)',
      delivered: o.stats.exported,
      peakDeltaMB: +o.peakDeltaMB.toFixed(2),
      heapDeltaMB: +o.deltaAfterGcMB.toFixed(2),
      serverWroteMB: +wroteMB,
    });
    t.diagnostic(JSON.stringify(figures.at(-1)));
  } finally {
    await rcv.close();
  }
});

test('timers never keep the process alive: without shutdown the process exits, flushing on beforeExit', async (t) => {
  const rcv = await FakeReceiver.start(OK);
  try {
    const down = await refusedPort();
    // Both children at once: the machine is shared, and each only waits.
    const [up, dead] = await Promise.all([
      child(['no-shutdown', rcv.url], 20_000),
      child(['no-shutdown', `http://127.0.0.1:${down}/v1/traces`], 20_000),
    ]);
    for (const r of [up, dead]) {
      assert.equal(r.killed, false, 'exited on its own');
      assert.equal(r.code, 0, r.stderr);
      addsUp(r.out.stats, 'child');
    }
    // Endpoint up: the span went out on beforeExit, and the process then ended.
    assert.equal(rcv.requests.length, 1);
    assert.equal(rcv.requests[0]!.spans.length, 1);
    assert.equal(rcv.requests[0]!.spans[0].name, 'tracker.log_request');
    assert.equal(up.out.stats.exported, 1);
    assert.ok(up.out.aliveMs < 3000, `alive ${up.out.aliveMs.toFixed(0)} ms after the request`);
    // Endpoint down: a flush holds the process a bounded time (3 s), then it exits.
    assert.equal(dead.out.stats.exported, 0);
    assert.ok(dead.out.aliveMs < 6000, `alive ${dead.out.aliveMs.toFixed(0)} ms with the endpoint down`);
    // ... and it said why before it went: the cause at the first failed attempt, the loss at exit.
    assert.match(dead.out.lines[0], /^\[ekosis-otlp-traces\] http:\/\/127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED/);
    assert.match(dead.out.lines[0], /; retrying 1 spans \(up to 4 more attempts\)$/);
    const lost = 'process exiting with 0 spans still queued (dropped) and 1 spans in flight (counted as failed)';
    assert.equal(dead.out.lines.at(-1), `[ekosis-otlp-traces] ${lost}`);
    assert.deepEqual([dead.out.stats.failed, dead.out.stats.inFlight], [1, 0]);
    figures.push({
      scenario: 'no shutdown: exit',
      upAliveMs: Math.round(up.out.aliveMs),
      downAliveMs: Math.round(dead.out.aliveMs),
      delivered: up.out.stats.exported,
    });
    t.diagnostic(JSON.stringify(figures.at(-1)));
  } finally {
    await rcv.close();
  }
});

test('a silent collector: a request in flight does not hold the process; the lost span is reported', async (t) => {
  const rcv = await FakeReceiver.start(() => ({ hang: true }));
  try {
    // A 10 s request timeout: the process must not wait for it (the flush hold is 3 s).
    const r = await child(['no-shutdown', rcv.url, '10000'], 20_000);
    assert.equal(r.killed, false, 'exited on its own');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(rcv.requests.length, 1);
    assert.ok(r.out.aliveMs < 6000, `alive ${r.out.aliveMs.toFixed(0)} ms with a request hanging`);
    assert.deepEqual(r.out.lines, [
      '[ekosis-otlp-traces] process exiting with 0 spans still queued (dropped) and 1 spans in flight ' +
        '(counted as failed)',
    ]);
    assert.deepEqual([r.out.stats.failed, r.out.stats.inFlight], [1, 0]);
    addsUp(r.out.stats, 'child');
    figures.push({ scenario: 'silent collector: exit', aliveMs: Math.round(r.out.aliveMs) });
    t.diagnostic(JSON.stringify(figures.at(-1)));
  } finally {
    await rcv.close();
  }
});

test('diagnostics: dead endpoint for ~3 s: 2-4 lines, the cause at once, accounting for each lost span', async (t) => {
  const port = await refusedPort();
  const lines: string[] = [];
  const mw = new OtlpTracingMiddleware({
    ...COMMON,
    endpoint: `http://127.0.0.1:${port}/v1/traces`,
    maxExportBatchSize: 50,
    scheduledDelayMillis: 10,
    retry: { maxAttempts: 2, initialBackoffMillis: 20, maxBackoffMillis: 40, maxRetryAfterMillis: 100 },
    logger: (m: string) => void lines.push(m),
  });
  const t0 = performance.now();
  let n = 0;
  for (let round = 0; round < 1000 && performance.now() - t0 < 3000; round++) {
    await drive(mw, 100, n);
    n += 100;
    await sleep(5);
  }
  await within(mw.forceFlush(), 10_000);
  await mw.shutdown();
  const s = mw.stats();
  addsUp(s, 'diagnostics');
  assert.equal(s.ended, n);
  assert.ok(s.failed > 500, `many batches failed: ${JSON.stringify(s)}`);
  assert.ok(lines.length >= 2 && lines.length <= 4, `diagnostics:\n${lines.join('\n')}`);
  // The cause at the first failed attempt, then the first batch given up.
  assert.match(lines[0]!, /127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED/);
  assert.match(lines[0]!, /; retrying 50 spans \(up to 1 more attempt\)$/);
  assert.match(lines[1]!, /could not deliver to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED/);
  assert.match(lines[1]!, / after 2 attempts; 50 spans failed$/);
  // The lines account for every span lost: first reports plus the held-back summary.
  let reported = 0;
  for (const l of lines) {
    for (const m of l.matchAll(/; (\d+) spans failed|; (\d+) spans? dropped|costing (\d+) spans/g)) {
      reported += Number(m[1] ?? m[2] ?? m[3]);
    }
  }
  const lost = s.failed + s.dropped;
  assert.equal(reported, lost, `lines account for ${reported} of ${lost} lost spans:\n${lines.join('\n')}`);
  noSecrets(lines.join('\n'), 'diagnostics');
  allLines.push(...lines);
  figures.push({
    scenario: 'dead endpoint ~3 s (diagnostics)',
    ended: s.ended,
    delivered: s.exported,
    dropped: s.dropped,
    failed: s.failed,
    lines: lines.length,
  });
  t.diagnostic(JSON.stringify(figures.at(-1)));
  t.diagnostic(lines.join(' | '));
});

test('secrets: no header value in any line of any scenario', () => {
  assert.ok(allLines.length > 10);
  noSecrets(allLines.join('\n'), 'all scenarios');
  assert.ok(allLines.some((l) => l.includes('[redacted]')), 'echoed secrets were redacted, not merely absent');
});
