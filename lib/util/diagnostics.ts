// Diagnostics: one line per kind of failure per interval, with how many more happened and how
// many spans they cost since, so an endpoint down for a minute gives a handful of lines.

export type Logger = ((message: string) => void) | { warn(message: string): void };

export interface Diagnostics {
  /** Report `message`; `spans` is what this occurrence cost (0 when nothing was lost). */
  warn(kind: string, message: string, spans?: number): void;
  /** Say what was held back, in one line, e.g. at shutdown. */
  flush(): void;
}

/** A kind's last report, and what was held back since. */
interface Held {
  at: number;
  more: number;
  spans: number;
}

const INTERVAL_MS = 10_000;

/** The package's name: the prefix of every line, and the telemetry.sdk.name and scope of every payload. */
export const NAME = 'ekosis-otlp-traces';

export function makeDiagnostics(logger: Logger | undefined): Diagnostics {
  const kinds = new Map<string, Held>();
  // A logger that throws must not turn a diagnostic into a crash of the host.
  const write = (m: string): void => {
    m = `[${NAME}] ${m}`;
    try {
      typeof logger === 'function' ? logger(m) : (logger ?? console).warn(m);
    } catch {
      /* nothing sensible left to do */
    }
  };
  const summary = (k: Held): string => `${k.more} more like it${k.spans ? `, costing ${k.spans} spans` : ''}`;
  return {
    warn(kind, message, spans = 0) {
      const now = Date.now();
      const k = kinds.get(kind);
      if (k && now - k.at < INTERVAL_MS) {
        k.more++;
        k.spans += spans;
        return;
      }
      kinds.set(kind, { at: now, more: 0, spans: 0 });
      write(k?.more ? `${message} (${summary(k)} since the last report)` : message);
    },
    flush() {
      const parts: string[] = [];
      for (const [kind, k] of kinds) {
        if (k.more) parts.push(`${kind}: ${summary(k)}`);
        k.more = k.spans = 0;
      }
      if (parts.length) write(`not reported individually: ${parts.join('; ')}`);
    },
  };
}
