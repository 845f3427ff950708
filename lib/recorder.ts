// Recording payloads: each one's exact bytes plus a newline, appended to a file, in order.
// Node-only (node:fs), loaded only when recording is asked for.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

const NL = new Uint8Array([10]);

/** An append-only NDJSON file of payloads; writes are queued by the stream, never blocking. */
export class PayloadFile {
  private stream: WriteStream | undefined;
  private broken = false;

  constructor(
    readonly path: string,
    private readonly onError: (message: string) => void = () => undefined,
  ) {}

  append(json: Uint8Array): void {
    if (this.broken) return;
    if (!this.stream) {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
      } catch {
        /* the open below reports it */
      }
      this.stream = createWriteStream(this.path, { flags: 'a' });
      this.stream.on('error', (err) => {
        this.broken = true;
        this.onError(`cannot record payloads to ${this.path}: ${err.message}`);
      });
    }
    this.stream.write(Buffer.from(json));
    this.stream.write(NL);
  }

  /** Resolves when everything appended so far is on disk. */
  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (!s || this.broken) return Promise.resolve();
    return new Promise((resolve) => s.end(() => resolve()));
  }
}
