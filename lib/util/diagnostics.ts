// Diagnostics: one line per kind of failure per interval, with how many more happened and how
// many spans they cost since, so an endpoint down for a minute gives a handful of lines.
import { NAME } from './text.js';

/** The host's logger; it may return a promise (an async logger), which is never left to reject unhandled. */
export type Logger = ((message: string) => unknown) | { warn(message: string): unknown };

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

const ignore = (): void => {};

export function makeDiagnostics(logger: Logger | undefined): Diagnostics {
  const kinds = new Map<string, Held>();
  // The logger is the host's code: neither its exception nor its rejected promise may turn a
  // diagnostic into a crash of the host.
  const write = (message: string): void => {
    const line = `[${NAME}] ${message}`;
    try {
      const result: unknown = typeof logger === 'function' ? logger(line) : (logger ?? console).warn(line);
      const then = (result as { then?: unknown } | null | undefined)?.then;
      if (typeof then === 'function') then.call(result, ignore, ignore);
    } catch {
      /* nothing sensible left to do */
    }
  };
  const summary = (held: Held): string =>
    `${held.more} more like it${held.spans ? `, costing ${held.spans} spans` : ''}`;
  return {
    warn(kind, message, spans = 0) {
      const now = Date.now();
      const held = kinds.get(kind);
      if (held && now - held.at < INTERVAL_MS) {
        held.more++;
        held.spans += spans;
        return;
      }
      kinds.set(kind, { at: now, more: 0, spans: 0 });
      write(held?.more ? `${message} (${summary(held)} since the last report)` : message);
    },
    flush() {
      const parts: string[] = [];
      for (const [kind, held] of kinds) {
        if (held.more) parts.push(`${kind}: ${summary(held)}`);
        held.more = held.spans = 0;
      }
      if (parts.length) write(`not reported individually: ${parts.join('; ')}`);
    },
  };
}
