// The EcoSystem host contract for TypeScript hosts: the two middleware systems with the
// Python framework's semantics (registration order, chained replacement, merged metadata).
// Wire objects keep EcoSystem's snake_case names.

export interface SpanKey {
  /** UUID, canonical lowercase hyphenated on the wire; its 128 bits are the trace id. */
  trace_id: string;
  /** The caller's span id, 16 hex. */
  span_id: string;
}

export interface RequestDTO {
  route_key: string;
  span_key: SpanKey;
  data: unknown;
}

export interface BeforeRoutingArgs {
  protocolDto: RequestDTO;
  [extra: string]: unknown;
}

export interface AfterRoutingArgs {
  protocolDto: RequestDTO;
  responseDto: unknown;
  [extra: string]: unknown;
}

export interface RoutingFailedArgs {
  protocolDto: RequestDTO;
  error: unknown;
  [extra: string]: unknown;
}

export type Metadata = Record<string, unknown>;

/** Regular middleware: every hook defaults to passing its value through. */
export class MiddlewareBase {
  async beforeRouting(args: BeforeRoutingArgs): Promise<RequestDTO> {
    return args.protocolDto;
  }

  async afterRouting(args: AfterRoutingArgs): Promise<unknown> {
    return args.responseDto;
  }

  /** Extension: a host calls it when the handler threw (the Python router skips afterRouting then). */
  async routingFailed(_args: RoutingFailedArgs): Promise<void> {}
}

/** Buffered-endpoint middleware: push (receive path) and process (worker) hooks. */
export class BufferedMiddlewareBase {
  /** Returns metadata to persist with the queued entry. */
  async beforePush(_spanKey: SpanKey, _dto: unknown): Promise<Metadata> {
    return {};
  }

  async beforeProcess(_spanKey: SpanKey, _dto: unknown, _metadata: Metadata, _retries: number): Promise<void> {}

  async afterProcess(_spanKey: SpanKey, _dto: unknown, _metadata: Metadata, _success: boolean): Promise<void> {}
}

/** A list of middlewares in registration order; `instance()` is the process-wide one of each kind. */
class Registry<M> {
  protected readonly items: M[] = [];

  /** The process-wide manager; `new MiddlewareManager()` gives an isolated one. */
  static instance<T>(this: (new () => T) & { one?: T }): T {
    // an own property: each subclass gets its own singleton, not its parent's
    return Object.hasOwn(this, 'one') ? this.one! : (this.one = new this());
  }

  add(middleware: M): void {
    this.items.push(middleware);
  }

  list(): readonly M[] {
    return this.items.slice();
  }
}

export class MiddlewareManager extends Registry<MiddlewareBase> {
  /** Each middleware receives what the previous one returned. */
  async runBeforeRouting({ protocolDto }: { protocolDto: RequestDTO }): Promise<RequestDTO> {
    for (const m of this.items) protocolDto = await m.beforeRouting({ protocolDto });
    return protocolDto;
  }

  /** Chained over the response; protocolDto is what the before-chain returned. */
  async runAfterRouting(
    { protocolDto, responseDto }: { protocolDto: RequestDTO; responseDto: unknown },
  ): Promise<unknown> {
    for (const m of this.items) responseDto = await m.afterRouting({ protocolDto, responseDto });
    return responseDto;
  }

  /** Every middleware hears of the failure, even if one of them throws; the first error is rethrown. */
  async runRoutingFailed({ protocolDto, error }: { protocolDto: RequestDTO; error: unknown }): Promise<void> {
    let first: { error: unknown } | undefined;
    for (const m of this.items) {
      try {
        await m.routingFailed?.({ protocolDto, error });
      } catch (e) {
        first ??= { error: e };
      }
    }
    if (first) throw first.error;
  }
}

export class BufferedMiddlewareManager extends Registry<BufferedMiddlewareBase> {
  /** Merges every middleware's metadata, later keys winning; what is not an object adds nothing. */
  async collectPushMetadata(spanKey: SpanKey, dto: unknown): Promise<Metadata> {
    const merged: Metadata = {};
    for (const m of this.items) {
      const part = await m.beforePush(spanKey, dto);
      if (typeof part === 'object' && !Array.isArray(part)) Object.assign(merged, part);
    }
    return merged;
  }

  async runBeforeProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, retries: number): Promise<void> {
    for (const m of this.items) await m.beforeProcess(spanKey, dto, metadata, retries);
  }

  async runAfterProcess(spanKey: SpanKey, dto: unknown, metadata: Metadata, success: boolean): Promise<void> {
    for (const m of this.items) await m.afterProcess(spanKey, dto, metadata, success);
  }
}
