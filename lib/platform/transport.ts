// What a transport is: send one request body, read a capped response. The exporter loads it
// through the platform (./platform.ts): on Node ./node/transport.ts, a keep-alive HTTP/1.1 client
// over net/tls with zlib gzip (Node, Bun, Deno); in browser and worker bundles ./web/transport.ts
// (fetch, CompressionStream). So a Node bundle carries no fetch code and a browser bundle no node:net.

export interface TransportResponse {
  status: number;
  /** Raw Retry-After header, if any. */
  retryAfter: string | null;
  /** The response body, at most `MAX_RESPONSE_BYTES`, possibly cut off. */
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

/** What ./node/transport.ts and ./web/transport.ts both export. */
export interface TransportModule {
  HttpTransport: new () => Transport;
  gzip(data: Uint8Array): Promise<Uint8Array>;
}

export type TransportErrorKind = 'network' | 'timeout' | 'aborted';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Response bodies are diagnostics only (partialSuccess); a hostile endpoint must not fill memory. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** The message of a request that got no answer in time. */
export const timeoutMessage = (ms: number): string => `timeout (no answer within ${ms} ms)`;

/** A network error's code and message, never the URL's credentials or any header. */
export function describe(err: unknown): string {
  // fetch wraps the socket error in `cause`; Node's happy-eyeballs connect gives an AggregateError
  // with an empty message and one error per address tried.
  type NetworkError = { code?: string; cause?: NetworkError; message?: string; errors?: NetworkError[] };
  const { code, message, errors } = (err as NetworkError).cause ?? (err as NetworkError);
  const text = message || errors?.[0]?.message || 'network error';
  return code && !text.includes(code) ? `${code}: ${text}` : text;
}

/** A timer that does not hold the process open (Node, Bun: an object; Deno: a number). */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === 'object') (timer as { unref?: () => void } | null)?.unref?.();
  else (globalThis as { Deno?: { unrefTimer?: (id: unknown) => void } }).Deno?.unrefTimer?.(timer);
}

/** Running on Node (or Bun, Deno in Node mode): there is a process to hook beforeExit and exit on. */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}
