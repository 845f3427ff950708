// The transport for runtimes without node:net: fetch, and gzip through the Web CompressionStream.
// Loaded through ./index.ts, which package.json "browser" puts in place of ../node/index.ts in
// browser and worker bundles; a Node bundle never carries it.
import {
  MAX_RESPONSE_BYTES,
  TransportError,
  describe,
  timeoutMessage,
  unrefTimer,
  type SendRequest,
  type Transport,
  type TransportErrorKind,
  type TransportModule,
  type TransportResponse,
} from '../transport.js';

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
      const requestBody = req.body as Uint8Array<ArrayBuffer>;
      const res = await fetch(req.url, { method: 'POST', body: requestBody, headers: req.headers, signal: ctl.signal });
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
      let at = 0;
      for (const part of parts) {
        all.set(part, at);
        at += part.length;
      }
      const body = new TextDecoder().decode(all.subarray(0, MAX_RESPONSE_BYTES));
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
    } catch (err) {
      let message = describe(err);
      if (why === 'timeout') message = timeoutMessage(req.timeoutMillis);
      else if (why === 'aborted') message = 'aborted at shutdown';
      throw new TransportError(why, message);
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

/** Type check only: this module exports what a transport module must (as ../node/transport.ts does). */
export type SameAsNode = Conforms<typeof import('./transport.js')>;
type Conforms<T extends TransportModule> = T;
