// The retry policy of the HTTP exporter: which answers are worth another attempt, how long to
// wait before it (exponential backoff with jitter, or the server's Retry-After), and the overall
// time budget of one batch.
import { unrefTimer } from '../platform/transport.js';

export interface RetryPolicy {
  /** Attempts per payload, the first included. */
  maxAttempts: number;
  initialBackoffMillis: number;
  maxBackoffMillis: number;
  /** A server's Retry-After is honoured up to this. */
  maxRetryAfterMillis: number;
  /**
   * Time one batch may take, every attempt, wait and 413 split included: past it, what is not
   * delivered fails (a collector answering 413 then 503 forever must not hold a batch for hours).
   */
  maxBatchMillis: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMillis: 1000,
  maxBackoffMillis: 10_000,
  maxRetryAfterMillis: 30_000,
  // Above the worst case of the defaults without Retry-After (5 × 10 s timeouts + 15 s of backoff).
  maxBatchMillis: 120_000,
};

/** Statuses that say "later": the same payload is sent again. */
export const RETRYABLE_STATUSES: readonly number[] = [429, 502, 503, 504];

/** Exponential backoff with full jitter between half and the whole step. */
export function backoffMillis(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxBackoffMillis, policy.initialBackoffMillis * 2 ** (attempt - 1));
  return step / 2 + random() * (step / 2);
}

/** delay-seconds (RFC 9110: digits only, so never negative). */
const DELAY_SECONDS = /^\s*\d+\s*$/;
/** An HTTP-date in any of its three forms; all of them say GMT, none starts with a sign. */
const HTTP_DATE = /^\s*[A-Za-z]{3,9},? [\dA-Za-z :-]+ GMT\s*$/;

/**
 * Retry-After as delay-seconds or an HTTP-date, in ms, capped at `cap`; undefined when absent,
 * negative, or not a valid date (then the backoff applies).
 */
export function retryAfterMillis(value: string | null, cap: number, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  let ms: number;
  if (DELAY_SECONDS.test(value)) ms = Number(value) * 1000;
  else if (HTTP_DATE.test(value)) ms = Date.parse(value) - now;
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  // A date in the past means "now".
  return Math.min(Math.max(0, ms), cap);
}

/** Resolves true after ms, or false at once when the signal fires; never holds the process open. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (slept: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(done, ms, true);
    unrefTimer(timer);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
