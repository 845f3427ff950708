// A small in-process EcoSystem-style host: a router with regular and buffered endpoints, one
// worker per buffered endpoint with retries, max_retries, an error queue and reprocessing that
// keeps the original metadata. It calls the middleware hooks in the same order as the Python
// framework, so tests and the demo exercise the tracer the way a real service does.
import {
  MiddlewareManager,
  BufferedMiddlewareManager,
  type Metadata,
  type RequestDTO,
  type SpanKey,
} from '../ecosystem/contract.js';

export type RegularHandler = (dto: RequestDTO) => unknown;
/** Returns true for success; false (or a throw) is a failed attempt. */
export type BufferedHandler = (model: unknown, spanKey: SpanKey) => boolean | Promise<boolean>;
/** The endpoint's request model: built from the stored data for every attempt. */
export type ModelClass = new (data: any) => object;

/** A queued entry as it is persisted: plain data, so it survives a "restart". */
export interface QueueEntry {
  span_key: SpanKey;
  data: unknown;
  metadata: Metadata;
  retries: number;
}

interface BufferedEndpoint {
  handler: BufferedHandler;
  maxRetries: number;
  model: ModelClass | undefined;
  pending: QueueEntry[];
  errors: QueueEntry[];
  busy: boolean;
}

export interface HostOptions {
  middlewareManager?: MiddlewareManager;
  bufferedMiddlewareManager?: BufferedMiddlewareManager;
  /** Start workers by themselves after a push (default true); false: only drain() processes. */
  autoProcess?: boolean;
}

export const QUEUED = Object.freeze({ status: 'queued' });

export class EcoHost {
  readonly middleware: MiddlewareManager;
  readonly bufferedMiddleware: BufferedMiddlewareManager;
  private readonly regular = new Map<string, RegularHandler>();
  private readonly buffered = new Map<string, BufferedEndpoint>();
  private readonly autoProcess: boolean;
  private idle: (() => void)[] = [];

  constructor(opts: HostOptions = {}) {
    this.middleware = opts.middlewareManager ?? MiddlewareManager.instance();
    this.bufferedMiddleware = opts.bufferedMiddlewareManager ?? BufferedMiddlewareManager.instance();
    this.autoProcess = opts.autoProcess ?? true;
  }

  endpoint(routeKey: string, handler: RegularHandler): this {
    this.regular.set(routeKey, handler);
    return this;
  }

  bufferedEndpoint(
    routeKey: string,
    handler: BufferedHandler,
    opts: { maxRetries?: number; model?: ModelClass } = {},
  ): this {
    this.buffered.set(routeKey, {
      handler,
      maxRetries: opts.maxRetries ?? 3,
      model: opts.model,
      pending: [],
      errors: [],
      busy: false,
    });
    return this;
  }

  /**
   * One request through the router: before-chain, handler (or push), after-chain. When the
   * handler throws, afterRouting is skipped (as in Python), routingFailed is called, and the
   * error reaches the caller.
   */
  async request(protocolDto: RequestDTO): Promise<unknown> {
    const dto = await this.middleware.runBeforeRouting({ protocolDto });
    let response: unknown;
    try {
      response = await this.route(dto);
    } catch (error) {
      try {
        await this.middleware.runRoutingFailed({ protocolDto: dto, error });
      } catch {
        /* the handler's error is the one the caller gets */
      }
      throw error;
    }
    return this.middleware.runAfterRouting({ protocolDto: dto, responseDto: response });
  }

  private async route(dto: RequestDTO): Promise<unknown> {
    const key = dto?.route_key;
    const regular = this.regular.get(key);
    if (regular) return regular(dto);
    const ep = this.buffered.get(key);
    if (!ep) throw new Error(`no endpoint for route ${JSON.stringify(key)}`);
    const metadata = await this.bufferedMiddleware.collectPushMetadata(dto.span_key, this.model(ep, dto.data));
    ep.pending.push({ span_key: dto.span_key, data: dto.data, metadata, retries: 0 });
    if (this.autoProcess) setImmediate(() => void this.work(ep));
    return QUEUED;
  }

  private model(ep: BufferedEndpoint, data: unknown): unknown {
    return ep.model ? new ep.model(data) : data;
  }

  /** The endpoint's worker: one entry at a time, in queue order. */
  private async work(ep: BufferedEndpoint): Promise<void> {
    if (ep.busy) return;
    ep.busy = true;
    try {
      for (let entry = ep.pending.shift(); entry; entry = ep.pending.shift()) {
        await this.attempt(ep, entry);
      }
    } finally {
      ep.busy = false;
      this.checkIdle();
    }
  }

  private async attempt(ep: BufferedEndpoint, entry: QueueEntry): Promise<void> {
    // A fresh model instance per attempt, as when Python reads the entry back from SQLite.
    const model = this.model(ep, entry.data);
    await this.bufferedMiddleware.runBeforeProcess(entry.span_key, model, entry.metadata, entry.retries);
    let ok = false;
    try {
      ok = (await ep.handler(model, entry.span_key)) === true;
    } catch {
      ok = false;
    }
    await this.bufferedMiddleware.runAfterProcess(entry.span_key, model, entry.metadata, ok);
    if (ok) return;
    entry.retries++;
    if (entry.retries >= ep.maxRetries) ep.errors.push(entry);
    else ep.pending.push(entry);
  }

  private checkIdle(): void {
    for (const ep of this.buffered.values()) if (ep.busy || ep.pending.length > 0) return;
    const waiting = this.idle;
    this.idle = [];
    for (const w of waiting) w();
  }

  /** Processes every pending entry of every buffered endpoint (workers run concurrently). */
  async drain(): Promise<void> {
    const done = new Promise<void>((resolve) => this.idle.push(resolve));
    for (const ep of this.buffered.values()) void this.work(ep);
    this.checkIdle();
    return done;
  }

  pending(routeKey: string): readonly QueueEntry[] {
    return this.endpointOf(routeKey).pending;
  }

  errorQueue(routeKey: string): readonly QueueEntry[] {
    return this.endpointOf(routeKey).errors;
  }

  /** Moves error entries (all, or those of one span_key) back to pending with retries 0 and their original metadata. */
  reprocessErrors(routeKey: string, spanKey?: SpanKey): number {
    const ep = this.endpointOf(routeKey);
    const keep: QueueEntry[] = [];
    let moved = 0;
    for (const e of ep.errors) {
      if (spanKey && (e.span_key.trace_id !== spanKey.trace_id || e.span_key.span_id !== spanKey.span_id)) keep.push(e);
      else {
        ep.pending.push({ ...e, retries: 0 });
        moved++;
      }
    }
    ep.errors = keep;
    if (moved > 0 && this.autoProcess) setImmediate(() => void this.work(ep));
    return moved;
  }

  /** The queues as plain data, as they would be on disk. */
  snapshot(): Record<string, { pending: QueueEntry[]; errors: QueueEntry[] }> {
    const out: Record<string, { pending: QueueEntry[]; errors: QueueEntry[] }> = {};
    for (const [k, ep] of this.buffered) out[k] = structuredClone({ pending: ep.pending, errors: ep.errors });
    return out;
  }

  /** Loads queues saved by snapshot(), e.g. into a new host after a restart. */
  restore(snapshot: Record<string, { pending: QueueEntry[]; errors: QueueEntry[] }>): void {
    for (const [k, q] of Object.entries(snapshot)) {
      const ep = this.endpointOf(k);
      ep.pending.push(...structuredClone(q.pending));
      ep.errors.push(...structuredClone(q.errors));
    }
  }

  private endpointOf(routeKey: string): BufferedEndpoint {
    const ep = this.buffered.get(routeKey);
    if (!ep) throw new Error(`no buffered endpoint ${JSON.stringify(routeKey)}`);
    return ep;
  }
}
