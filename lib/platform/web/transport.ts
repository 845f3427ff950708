// The transport for runtimes without node:net: fetch, and gzip through the Web CompressionStream.
// package.json "browser" puts it in place of ./transport-node.ts in browser and worker bundles;
// a Node bundle never carries it.
import { MAX_RESPONSE_BYTES, TransportError, describe, timeoutMessage, unrefTimer, type SendRequest, type Transport, type TransportErrorKind, type TransportModule, type TransportResponse } from '../transport.js';

export class HttpTransport implements Transport {
  async send(req: SendRequest): Promise<TransportResponse> {
    const ctl = new AbortController();
    let why = 'network' as TransportErrorKind;
    const stop = (kind: TransportErrorKind): void => {
      why = kind;
      ctl.abort();
    };
    const onAbort = (): void => stop('aborted');
    req.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(stop, req.timeoutMillis, 'timeout');
    unrefTimer(timer);
    try {
      if (req.signal.aborted) onAbort();
      // No `keepalive: true`: in browsers it caps the body at 64 KiB; connections are reused anyway.
      const res = await fetch(req.url, { method: 'POST', body: req.body as Uint8Array<ArrayBuffer>, headers: req.headers, signal: ctl.signal });
      const parts: Uint8Array[] = [];
      let size = 0;
      const reader = res.body?.getReader();
      try {
        while (reader && size < MAX_RESPONSE_BYTES) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          size += value.length;
        }
        void reader?.cancel().catch(() => undefined);
      } catch {
        /* a body cut off mid-way still carries the status */
      }
      const all = new Uint8Array(size);
      parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
      const body = new TextDecoder().decode(all.subarray(0, MAX_RESPONSE_BYTES));
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
    } catch (err) {
      throw new TransportError(why, why === 'timeout' ? timeoutMessage(req.timeoutMillis) : why === 'aborted' ? 'aborted at shutdown' : describe(err));
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
    }
  }
}

export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Type check only: the same exports as ./transport-node.ts, which bundlers swap for this module. */
export type SameAsNode = Conforms<typeof import('./transport.js')>;
type Conforms<T extends TransportModule> = T;
