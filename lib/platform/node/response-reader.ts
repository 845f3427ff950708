// Reads one HTTP/1.1 response as its bytes arrive, for ./transport.ts. Each byte is looked at
// once (a packet resumes where the last one stopped), and everything read for one request, 1xx
// heads and chunk framing included, is capped, so a hostile or broken collector costs a bounded
// amount of memory and CPU. Strict where RFC 9112 asks a client to be: a response whose length
// cannot be known for sure fails, and its socket is never reused.
//
//   head --(1xx)--> head --> length | chunk-size <-> chunk-data -> chunk-crlf | trailers | close
//                                     '------------------------------------------^ (size 0)
import { MAX_RESPONSE_BYTES, type TransportResponse } from '../transport.js';

/** A response head (status line and headers) at most. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Everything read for one request at most: heads (1xx included), framing and body. */
export const MAX_READ_BYTES = 256 * 1024;
/** A chunk-size line at most (a size of 8 hex digits and a short extension). */
const MAX_CHUNK_LINE = 1024;

/** A response, and whether its socket is clean for the next request. */
export interface Answer {
  res: TransportResponse;
  reuse: boolean;
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close';

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?$/;
const CR = 13;
const LF = 10;

export class ResponseReader {
  /** Bytes received (the first packet as is; copied into a growing buffer only when a second one comes). */
  #data: Buffer = Buffer.alloc(0);
  #length = 0;
  /** Where parsing resumes. */
  #pos = 0;
  /** Where the search for the end of the head, or of a line, resumes. */
  #headScan = 0;
  #lineScan = 0;
  #phase: Phase = 'head';
  #status = 0;
  #retryAfter: string | null = null;
  #reuse = false;
  /** Content-Length: the body's end; chunk-data: what is left of the chunk. */
  #remaining = 0;
  #bodyStart = 0;
  #body: Buffer[] = [];
  #bodyBytes = 0;

  /** Bytes received so far. */
  get received(): number {
    return this.#length;
  }

  /** Takes a packet: the answer once complete, an error message, or undefined while more is needed. */
  feed(packet: Buffer): Answer | string | undefined {
    this.#append(packet);
    const outcome = this.#parse();
    if (outcome !== undefined) return outcome;
    if (this.#length > MAX_READ_BYTES) {
      if (this.#phase === 'head') return `response too large (over ${MAX_READ_BYTES} bytes without a final answer)`;
      return this.#answer(false); // enough: the rest is dropped unread with its socket
    }
    return undefined;
  }

  /**
   * Nothing more will come (closed, timed out, failed): a response whose head arrived is the
   * answer, its body as far as it got (sending again would deliver the spans twice); otherwise
   * undefined.
   */
  end(): Answer | undefined {
    if (this.#phase === 'head') return undefined;
    // (A Content-Length body is taken whole when complete; cut short, take what came.)
    if (this.#phase === 'length') this.#takeBody(this.#bodyStart, this.#length - this.#bodyStart);
    return this.#answer(false);
  }

  #append(packet: Buffer): void {
    if (this.#length === 0) {
      this.#data = packet;
      this.#length = packet.length;
      return;
    }
    const needed = this.#length + packet.length;
    if (needed > this.#data.length) {
      // Doubling: the copies add up to a few times the bytes received, however small the packets.
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.#length, 4096));
      this.#data.copy(grown, 0, 0, this.#length);
      this.#data = grown;
    }
    packet.copy(this.#data, this.#length);
    this.#length = needed;
  }

  #parse(): Answer | string | undefined {
    while (true) {
      switch (this.#phase) {
        case 'head': {
          const outcome = this.#readHead();
          if (outcome !== 'next') return outcome;
          break;
        }
        case 'length': {
          const wanted = Math.min(this.#remaining, MAX_RESPONSE_BYTES);
          if (this.#length - this.#bodyStart < wanted) return undefined;
          this.#body.push(this.#data.subarray(this.#bodyStart, this.#bodyStart + wanted));
          this.#bodyBytes = wanted;
          const clean = this.#remaining <= MAX_RESPONSE_BYTES && this.#length === this.#bodyStart + this.#remaining;
          return this.#answer(clean);
        }
        case 'chunk-size': {
          const eol = this.#lineEnd();
          if (eol < 0) {
            return this.#length - this.#pos > MAX_CHUNK_LINE ? 'bad chunk framing: no chunk size' : undefined;
          }
          const match = CHUNK_SIZE.exec(this.#data.toString('latin1', this.#pos, eol));
          if (!match) return 'bad chunk framing: not a chunk size';
          this.#remaining = parseInt(match[1]!, 16);
          this.#pos = eol + 2;
          this.#phase = this.#remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const available = Math.min(this.#remaining, this.#length - this.#pos);
          this.#takeBody(this.#pos, available);
          this.#pos += available;
          this.#remaining -= available;
          if (this.#remaining > 0) return undefined;
          if (this.#bodyBytes >= MAX_RESPONSE_BYTES) return this.#answer(false);
          this.#phase = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (this.#length - this.#pos < 2) return undefined;
          if (this.#data[this.#pos] !== CR || this.#data[this.#pos + 1] !== LF) {
            return 'bad chunk framing: no CRLF after chunk data';
          }
          this.#pos += 2;
          this.#phase = 'chunk-size';
          break;
        }
        case 'trailers': {
          const eol = this.#lineEnd();
          if (eol < 0) return this.#length - this.#pos > MAX_HEAD_BYTES ? 'trailers too large' : undefined;
          const empty = eol === this.#pos;
          this.#pos = eol + 2;
          // The empty line ends the message; reusable if nothing else came.
          if (empty) return this.#answer(this.#pos === this.#length);
          break;
        }
        case 'close': {
          this.#takeBody(this.#pos, this.#length - this.#pos);
          this.#pos = this.#length;
          return this.#bodyBytes >= MAX_RESPONSE_BYTES ? this.#answer(false) : undefined;
        }
      }
    }
  }

  /** Index of the CRLF ending the line at #pos, or -1 (then the next search resumes at the end). */
  #lineEnd(): number {
    const from = Math.max(this.#pos, this.#lineScan - 1); // (a CRLF may straddle two packets)
    const eol = this.#data.subarray(0, this.#length).indexOf('\r\n', from, 'latin1');
    this.#lineScan = eol < 0 ? this.#length : 0;
    return eol;
  }

  /** Keeps body bytes up to the cap. */
  #takeBody(from: number, count: number): void {
    const kept = Math.min(count, MAX_RESPONSE_BYTES - this.#bodyBytes);
    if (kept <= 0) return;
    this.#body.push(this.#data.subarray(from, from + kept));
    this.#bodyBytes += kept;
  }

  /** Reads a head: 'next' when it set the phase, else the outcome. */
  #readHead(): Answer | string | undefined | 'next' {
    const from = Math.max(this.#pos, this.#headScan - 3); // (the end may straddle two packets)
    const end = this.#data.subarray(0, this.#length).indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      this.#headScan = this.#length;
      return this.#length - this.#pos > MAX_HEAD_BYTES ? 'response head too large' : undefined;
    }
    const head = this.#data.toString('latin1', this.#pos, end);
    this.#pos = end + 4;
    this.#headScan = this.#pos;
    const lines = head.split('\r\n');
    const statusLine = lines[0]!;
    if (!statusLine.startsWith('HTTP/1.')) return `not HTTP/1.x: ${JSON.stringify(head.slice(0, 40))}`;
    const status = STATUS_LINE.exec(statusLine);
    if (!status) return `invalid status line: ${JSON.stringify(statusLine.slice(0, 40))}`;
    const code = Number(status[2]);
    if (code < 200) return 'next'; // 100 Continue and friends: the real answer follows
    this.#status = code;
    let contentLength: string[] | undefined;
    let transferEncoding: string[] | undefined;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0 || line.charCodeAt(0) <= 32) return `malformed header line: ${JSON.stringify(line.slice(0, 40))}`;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') (contentLength ??= []).push(...value.split(','));
      else if (name === 'transfer-encoding') (transferEncoding ??= []).push(...value.split(','));
      else if (name === 'connection') connection += `,${value.toLowerCase()}`;
      else if (name === 'retry-after') this.#retryAfter = value;
    }
    const tokens = connection.split(',').map((t) => t.trim());
    this.#reuse = !tokens.includes('close') && (status[1] === '1' || tokens.includes('keep-alive'));
    this.#bodyStart = this.#pos;
    if (code === 204 || code === 304) return this.#answer(this.#length === this.#pos);
    if (transferEncoding) {
      if (contentLength) return 'invalid response: Transfer-Encoding with Content-Length';
      const codings = transferEncoding.map((c) => c.trim().toLowerCase()).filter((c) => c !== '');
      if (codings.at(-1) !== 'chunked') {
        return `invalid response: final transfer coding is not chunked (${codings.join(', ')})`;
      }
      this.#phase = 'chunk-size';
    } else if (contentLength) {
      const values = new Set(contentLength.map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) {
        return `invalid response: conflicting Content-Length (${[...values].join(', ')})`;
      }
      this.#remaining = Number(only);
      this.#phase = 'length';
    } else {
      this.#phase = 'close'; // the body runs until the connection closes
      this.#reuse = false;
    }
    return 'next';
  }

  #answer(clean: boolean): Answer {
    const body = this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body);
    const res: TransportResponse = { status: this.#status, retryAfter: this.#retryAfter, body: body.toString() };
    return { res, reuse: clean && this.#reuse };
  }
}
