// Node's keep-alive transport: one Buffer written with one end() call, idle sockets unref'd
// by the agent (so they never keep the process alive), responses read with a cap. A request in
// flight keeps its socket ref'd (a beforeExit flush must be able to finish); its timeout timer
// is unref'd.
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { CappedBody, TransportError, describe, unrefTimer, type SendRequest, type Transport, type TransportResponse } from './transport.js';

const IDLE_MS = 4000;

export class NodeHttpTransport implements Transport {
  // Two requests in flight at most, so two sockets suffice; keep them warm between batches.
  // Idle sockets are closed after 4 s, before a typical server's keep-alive timeout (Node's is
  // 5 s), so a batch rarely lands on a socket the server is closing at that very moment.
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2, timeout: IDLE_MS });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2, timeout: IDLE_MS });

  send(req: SendRequest): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      const secure = req.url.protocol === 'https:';
      let settled = false;
      /** Set once the status line has arrived: from then on the attempt has an answer. */
      let answer: { status: number; retryAfter: string | null; body: CappedBody } | undefined;
      const fail = (kind: 'network' | 'timeout' | 'aborted', message: string): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(new TransportError(kind, message));
      };
      const finish = (): void => {
        if (settled || answer === undefined) return;
        settled = true;
        cleanup();
        resolve({ status: answer.status, retryAfter: answer.retryAfter, body: answer.body.text() });
      };
      const headers: Record<string, string | number> = { ...req.headers, 'content-length': req.body.byteLength };
      const r = (secure ? https : http).request(req.url, {
        method: 'POST',
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(() => {
        // The status already arrived and only the body is slow: that is an answer, cut off
        // (re-sending would deliver the spans twice). Otherwise a timeout, retried by the caller.
        if (answer !== undefined) finish();
        else fail('timeout', `no answer within ${req.timeoutMillis} ms`);
        r.destroy();
      }, req.timeoutMillis);
      // The socket holds the process open while a request is in flight; the timer never does.
      unrefTimer(timer);
      const onAbort = (): void => {
        fail('aborted', 'aborted at shutdown');
        r.destroy();
      };
      if (req.signal.aborted) {
        r.destroy();
        fail('aborted', 'aborted at shutdown');
        return;
      }
      req.signal.addEventListener('abort', onAbort, { once: true });
      function cleanup(): void {
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
      }
      r.on('error', (err) => {
        if (answer !== undefined) finish();
        else fail('network', describe(err));
      });
      r.on('response', (res) => {
        const retryAfter = res.headers['retry-after'];
        const body = new CappedBody();
        answer = { status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, body };
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          if (!body.push(chunk)) {
            // Enough read: the status is what matters. Drop the rest without buffering it;
            // the socket is destroyed rather than drained (a hostile body may never end).
            finish();
            res.destroy();
          }
        });
        res.on('end', finish);
        // Cut off mid-body: the status line already arrived, so it still counts.
        res.on('error', finish);
        res.on('aborted', finish);
        res.on('close', finish);
      });
      r.end(req.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** gzip on libuv's thread pool, off the event loop. */
export function gzip(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
}
