// Span timestamps without BigInt on the hot path. A time is a plain number: nanoseconds since
// the clock's base (an exact whole second of the epoch). Doubles are exact to 2^53 ns, about
// 104 days past the base; the decimal epoch string OTLP wants is built only at encode time.

export type ClockFn = () => bigint | number;

export interface Clock {
  /** Nanoseconds since `baseSec`, never smaller than the previous reading. */
  now(): number;
  /** Whole epoch seconds of the base. */
  readonly baseSec: number;
}

/** Zeros that pad a nanosecond count of n digits to 9. */
const PAD = ['000000000', '00000000', '0000000', '000000', '00000', '0000', '000', '00', '0', ''];
let lastSec = -1;
let lastSecText = '';

/** Decimal epoch nanoseconds of a clock reading, as OTLP's JSON mapping writes fixed64. */
export function epochNanos(clock: Clock, t: number): string {
  const whole = Math.floor(t / 1e9);
  const rest = t - whole * 1e9; // 0 <= rest < 1e9, an integer: a small integer to print, not a double
  const sec = clock.baseSec + whole;
  // Consecutive timestamps nearly always share their second: print it once.
  if (sec !== lastSec) {
    lastSec = sec;
    lastSecText = String(sec);
  }
  const ns = String(rest);
  return lastSecText + PAD[ns.length] + ns;
}

/** The default clock: wall time at start plus the monotonic performance timer since then. */
class MonotonicClock implements Clock {
  readonly baseSec: number;
  private readonly offset: number;
  // Held here: on Node, globalThis.performance is a lazy getter, a function call per reading.
  private readonly perf = globalThis.performance;

  constructor() {
    const perf = this.perf;
    const wallMs = perf && typeof perf.timeOrigin === 'number' ? perf.timeOrigin + perf.now() : Date.now();
    const startPerf = perf ? perf.now() : 0;
    this.baseSec = Math.floor(wallMs / 1000);
    // ns from the base second to "now", minus the performance reading at this same moment.
    this.offset = Math.round((wallMs - this.baseSec * 1000) * 1e6) - startPerf * 1e6;
  }

  now(): number {
    // performance.now() is monotonic; rounding keeps the value an integer.
    return Math.round(this.offset + this.perf.now() * 1e6);
  }
}

/** A user clock (epoch ns as bigint or number), made monotonic and relative to its first reading's second. */
class InjectedClock implements Clock {
  readonly baseSec: number;
  private readonly baseNs: bigint;
  private last = 0;

  constructor(private readonly fn: ClockFn) {
    const first = InjectedClock.read(fn);
    this.baseSec = Number(first / 1_000_000_000n);
    this.baseNs = BigInt(this.baseSec) * 1_000_000_000n;
  }

  private static read(fn: ClockFn): bigint {
    const v = fn();
    if (typeof v === 'bigint') return v < 0n ? 0n : v;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return BigInt(Math.round(v));
    throw new TypeError(`clock() must return epoch nanoseconds as a bigint or a non-negative finite number; got ${String(v)}`);
  }

  now(): number {
    let t: number;
    try {
      t = Number(InjectedClock.read(this.fn) - this.baseNs);
    } catch {
      t = this.last; // a broken clock must not break a request: keep time standing still
    }
    if (t < this.last) t = this.last; // never backwards within a process
    this.last = t;
    return t;
  }
}

let shared: Clock | undefined;

/** The process-wide default clock (so spans of several tracers share one time base), or a user clock. */
export function makeClock(fn?: ClockFn): Clock {
  if (fn) return new InjectedClock(fn);
  return (shared ??= new MonotonicClock());
}
