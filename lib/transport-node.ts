// Node's keep-alive transport: one Buffer written with one end() call, idle sockets unref'd
// by the agent (so they never keep the process alive), responses read with a cap.
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { CappedBody, TransportError, describe, type SendRequest, type Transport, type TransportResponse } from './transport.js';

export class NodeHttpTransport implements Transport {
  // Two requests in flight at most, so two sockets suffice; keep them warm between batches.
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2 });

  send(req: SendRequest): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      const secure = req.url.protocol === 'https:';
      let settled = false;
      const fail = (kind: 'network' | 'timeout' | 'aborted', message: string): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(new TransportError(kind, message));
      };
      const done = (res: TransportResponse): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(res);
      };
      const headers: Record<string, string | number> = { ...req.headers, 'content-length': req.body.byteLength };
      const r = (secure ? https : http).request(req.url, {
        method: 'POST',
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(() => {
        fail('timeout', `no answer within ${req.timeoutMillis} ms`);
        r.destroy();
      }, req.timeoutMillis);
      const onAbort = (): void => {
        fail('aborted', 'aborted at shutdown');
        r.destroy();
      };
      req.signal.addEventListener('abort', onAbort, { once: true });
      function cleanup(): void {
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
      }
      r.on('error', (err) => fail('network', describe(err)));
      r.on('response', (res) => {
        const body = new CappedBody();
        const status = res.statusCode ?? 0;
        const retryAfter = (res.headers['retry-after'] as string | undefined) ?? null;
        const finish = (): void => done({ status, retryAfter, body: body.text() });
        res.on('data', (chunk: Buffer) => {
          if (!body.push(chunk)) {
            // Enough read: the status is what matters. Drop the rest without buffering it.
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
