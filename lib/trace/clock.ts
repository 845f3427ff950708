// Span timestamps without BigInt on the hot path. A time is a plain number: nanoseconds since
// the clock's base (an exact whole second of the epoch). Doubles are exact to 2^53 ns, about
// 104 days past the base; the decimal epoch string OTLP wants is built only at encode time.
import { SecondDigits } from '../util/text.js';

export type ClockFn = () => bigint | number;

export interface Clock {
  /** Nanoseconds since `baseSec`, never smaller than the previous reading. */
  now(): number;
  /** Whole epoch seconds of the base. */
  readonly baseSec: number;
}

const seconds = new SecondDigits();

/** Decimal epoch nanoseconds of a clock reading, as OTLP's JSON mapping writes fixed64. */
export function epochNanos(clock: Clock, t: number): string {
  const whole = Math.floor(t / 1e9);
  // 0 <= rest < 1e9, an integer: a small integer to print, not a double
  return seconds.of(clock.baseSec + whole) + String(t - whole * 1e9).padStart(9, '0');
}

let shared: Clock | undefined;

/**
 * The process-wide default clock (so spans of several tracers share one time base): wall time
 * at start plus the monotonic performance timer since then. Or a user clock (epoch ns as bigint
 * or number), made monotonic and relative to its first reading's second.
 */
export function makeClock(fn?: ClockFn): Clock {
  if (fn) return injected(fn);
  if (shared) return shared;
  // Held here: on Node, globalThis.performance is a lazy getter, a function call per reading.
  const perf = globalThis.performance;
  const wallMs = perf.timeOrigin ? perf.timeOrigin + perf.now() : Date.now();
  const startPerf = perf.now();
  const baseSec = Math.floor(wallMs / 1000);
  // ns from the base second to "now", minus the performance reading at this same moment.
  const offset = Math.round((wallMs - baseSec * 1000) * 1e6) - startPerf * 1e6;
  // performance.now() is monotonic; rounding keeps the value an integer.
  shared = { baseSec, now: () => Math.round(offset + perf.now() * 1e6) };
  return shared;
}

function injected(fn: ClockFn): Clock {
  const read = (): bigint => {
    const v = fn();
    if (typeof v === 'bigint') return v < 0n ? 0n : v;
    if (typeof v === 'number' && v >= 0 && v < Infinity) return BigInt(Math.round(v));
    throw new TypeError(`clock() must return epoch nanoseconds (bigint or number >= 0); got ${String(v)}`);
  };
  const first = read();
  const baseNs = first - (first % 1_000_000_000n);
  let last = 0;
  return {
    baseSec: Number(baseNs / 1_000_000_000n),
    now: () => {
      try {
        // never backwards within a process
        last = Math.max(last, Number(read() - baseNs));
      } catch {
        // a broken clock must not break a request: time stands still
      }
      return last;
    },
  };
}
