// Recording payloads: each one's exact bytes plus a newline, appended to a file, in order.
// Node-only (node:fs), loaded only when recording is asked for.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** An append-only NDJSON file of payloads; writes are queued by the stream, never blocking. */
export class PayloadFile {
  #stream: WriteStream | undefined;
  #broken = false;

  constructor(
    readonly path: string,
    readonly onError: (message: string) => void,
  ) {}

  append(json: Uint8Array): void {
    if (this.#broken) return;
    if (!this.#stream) {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
      } catch {
        /* the open below reports it */
      }
      this.#stream = createWriteStream(this.path, { flags: 'a' }).on('error', (err) => {
        this.#broken = true;
        this.onError(`cannot record payloads to ${this.path}: ${err.message}`);
      });
    }
    // A copy (concat allocates): the caller may reuse its buffer before the write happens.
    this.#stream.write(Buffer.concat([json, NL]));
  }

  /** Resolves when everything appended so far is on disk. */
  close(): Promise<void> {
    const s = this.#stream;
    this.#stream = undefined;
    return new Promise((resolve) => (s && !this.#broken ? s.end(resolve) : resolve()));
  }
}

const NL = new Uint8Array([10]);
