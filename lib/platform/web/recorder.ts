// Browsers and workers have no files (./index.ts loads this where ../node/index.ts loads the
// node:fs recorder): recordPayloadsTo is reported once and nothing is recorded; exporting goes on.
export class PayloadFile {
  #told = false;

  constructor(
    readonly path: string,
    readonly onError: (message: string) => void,
  ) {}

  append(_json: Uint8Array): void {
    if (this.#told) return;
    this.#told = true;
    this.onError(`cannot record payloads to ${this.path}: no file system in this runtime`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
