// Helpers shared by the library and its tools, so that each exists once: the package's name,
// one-line messages, error and value descriptions that never throw, and the digits of the
// current second.

/** The package's name: the prefix of every diagnostic, and the telemetry.sdk.name and scope of every payload. */
export const NAME = 'ekosis-otlp-traces';

/** S on one line: each line break (and the blanks around it) becomes one space. */
export function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ');
}

/** What went wrong, without the error's name: an Error's message, else the thrown value as text. */
export function errorMessage(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    // String() throws for an object without a prototype or with a throwing toString.
    return 'unknown error';
  }
}

/** "Name: message" for an Error (what String() gives), else the thrown value as text; never throws. */
export function errorText(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name || 'Error'}: ${err.message}` : String(err);
  } catch {
    return 'unknown error';
  }
}

/**
 * A value for a message that names what is wrong with it: strings quoted and cut to 40
 * characters, arrays, objects and functions by their kind only (they may be large or secret).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/**
 * The decimal digits of whole epoch seconds, remembered for the last second asked: consecutive
 * timestamps nearly always share their second, so it is printed about once per second.
 */
export class SecondDigits {
  #second = -1;
  #digits = '';

  of(second: number): string {
    if (second !== this.#second) {
      this.#second = second;
      this.#digits = String(second);
    }
    return this.#digits;
  }
}
