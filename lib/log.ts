// Diagnostics: one line per kind of failure per interval, with how many more happened and how
// many spans they cost since, so an endpoint down for a minute gives a handful of lines.

export type Logger = ((message: string) => void) | { warn(message: string): void };

const PREFIX = '[ekosis-otlp-traces] ';

interface KindState {
  last: number;
  suppressed: number;
  spans: number;
}

export class Diagnostics {
  private readonly kinds = new Map<string, KindState>();
  private readonly write: (m: string) => void;

  constructor(
    logger: Logger | undefined,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    const target = logger ?? ((m: string) => console.warn(m));
    const fn = typeof target === 'function' ? target : (m: string) => target.warn(m);
    // A logger that throws must not turn a diagnostic into a crash of the host.
    this.write = (m) => {
      try {
        fn(PREFIX + m);
      } catch {
        /* nothing sensible left to do */
      }
    };
  }

  /** Report `message`; `spans` is what this occurrence cost (0 when nothing was lost). */
  warn(kind: string, message: string, spans = 0): void {
    const t = this.now();
    const k = this.kinds.get(kind);
    if (k && t - k.last < this.intervalMs) {
      k.suppressed++;
      k.spans += spans;
      return;
    }
    let line = message;
    if (k && k.suppressed > 0) line += ` (${summary(k)} since the last report)`;
    this.kinds.set(kind, { last: t, suppressed: 0, spans: 0 });
    this.write(line);
  }

  /** Say what was held back, in one line, e.g. at shutdown. */
  flush(): void {
    const parts: string[] = [];
    for (const [kind, k] of this.kinds) {
      if (k.suppressed > 0) parts.push(`${kind}: ${summary(k)}`);
      k.suppressed = 0;
      k.spans = 0;
    }
    if (parts.length > 0) this.write(`not reported individually: ${parts.join('; ')}`);
  }
}

function summary(k: KindState): string {
  return `${k.suppressed} more like it${k.spans ? `, costing ${k.spans} spans` : ''}`;
}
