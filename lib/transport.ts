// Sending one request body and reading a capped response. Node gets a keep-alive HTTP/1.1 client over net/tls
// (./transport-node.ts, loaded only there); every other runtime gets fetch.

export interface TransportResponse {
  status: number;
  /** Raw Retry-After header, if any. */
  retryAfter: string | null;
  /** The response body, at most `maxResponseBytes`, possibly cut off. */
  body: string;
}

export interface SendRequest {
  url: URL;
  body: Uint8Array;
  headers: Record<string, string>;
  timeoutMillis: number;
  signal: AbortSignal;
}

export interface Transport {
  /** Resolves with the response, or rejects with a TransportError (network, timeout, aborted). */
  send(req: SendRequest): Promise<TransportResponse>;
  close?(): void;
}

export type TransportErrorKind = 'network' | 'timeout' | 'aborted';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Response bodies are diagnostics only (partialSuccess); a hostile endpoint must not fill memory. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** Collects at most MAX_RESPONSE_BYTES of a stream of chunks. */
export class CappedBody {
  private parts: Uint8Array[] = [];
  private size = 0;
  /** Returns false once the cap is reached: stop reading. */
  push(chunk: Uint8Array): boolean {
    const room = MAX_RESPONSE_BYTES - this.size;
    if (room <= 0) return false;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.parts.push(part);
    this.size += part.length;
    return this.size < MAX_RESPONSE_BYTES;
  }
  text(): string {
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  }
}

/** The fetch transport, for runtimes without node:net. */
export class FetchTransport implements Transport {
  async send(req: SendRequest): Promise<TransportResponse> {
    const ctl = new AbortController();
    let why = 'network' as TransportErrorKind;
    const onAbort = (): void => {
      why = 'aborted';
      ctl.abort();
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      why = 'timeout';
      ctl.abort();
    }, req.timeoutMillis);
    unrefTimer(timer);
    try {
      // No `keepalive: true`: in browsers it caps the body at 64 KiB; connections are reused anyway.
      const res = await fetch(req.url, { method: 'POST', body: req.body as Uint8Array<ArrayBuffer>, headers: req.headers, signal: ctl.signal });
      const capped = new CappedBody();
      try {
        const reader = res.body?.getReader();
        if (reader) {
          for (;;) {
            const { done, value } = await reader.read();
            if (done || !capped.push(value)) break;
          }
          void reader.cancel().catch(() => undefined);
        }
      } catch {
        /* a body cut off mid-way still carries the status */
      }
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: capped.text() };
    } catch (err) {
      throw new TransportError(why, why === 'timeout' ? `no answer within ${req.timeoutMillis} ms` : describe(err));
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
    }
  }
}

/** A network error's code and message, never the URL's credentials or any header. */
export function describe(err: unknown): string {
  type E = { code?: unknown; cause?: E; message?: unknown; errors?: E[] } | null | undefined;
  const e = err as E;
  // fetch wraps the socket error in `cause`; Node's happy-eyeballs connect gives an AggregateError
  // with an empty message and one error per address tried.
  const inner: E = e?.cause ?? e;
  const code = inner?.code ?? e?.code ?? inner?.errors?.[0]?.code;
  let msg = String(inner?.message ?? e?.message ?? '');
  if (!msg && Array.isArray(inner?.errors) && inner.errors.length > 0) msg = String(inner.errors[0]?.message ?? '');
  if (!msg) msg = typeof err === 'string' ? err : 'network error';
  return code && !msg.includes(String(code)) ? `${String(code)}: ${msg}` : msg;
}

/** A timer that does not hold the process open (Node, Bun; Deno via unrefTimer). */
export function unrefTimer(t: unknown): void {
  const timer = t as { unref?: () => void } | number;
  if (typeof timer === 'object' && timer !== null && typeof timer.unref === 'function') timer.unref();
  else if (typeof timer === 'number') {
    const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
    deno?.unrefTimer?.(timer);
  }
}
