// A fast OTLP/HTTP loopback sink for the benchmarks: node:http on 127.0.0.1:0, answers 200 {}
// at once, counts request bodies and spans. Spans are counted by finding `"spanId":` in the body
// (each encoded span has exactly one; parentSpanId does not match because of the case), so the
// sink costs a byte scan, not a JSON parse, and never becomes the bottleneck it would measure.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkCounts {
  requests: number;
  bytes: number;
  spans: number;
}

const NEEDLE = Buffer.from('"spanId":');

export function countSpans(body: Buffer): number {
  let n = 0;
  for (let at = body.indexOf(NEEDLE); at >= 0; at = body.indexOf(NEEDLE, at + NEEDLE.length)) n++;
  return n;
}

export async function startSink(): Promise<{ url: string; counts: SinkCounts; reset(): void; close(): Promise<void> }> {
  const counts: SinkCounts = { requests: 0, bytes: 0, spans: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      counts.requests++;
      counts.bytes += body.length;
      counts.spans += countSpans(body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    counts,
    reset() {
      counts.requests = counts.bytes = counts.spans = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
