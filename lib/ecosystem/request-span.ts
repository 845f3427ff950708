// What both middlewares do with a span: start it from a span_key, end it, report a hook's own
// failure, and file it in a table of open spans tied to the tracer (cap and timeout sweep).
import { Span, StatusCode } from '../trace/span.js';
import type { Tracer } from '../trace/tracer.js';
import { OpenSpans } from './open-spans.js';
import { errorText } from '../util/text.js';

/** A hook's own failure, reported (as kind `internal`), never passed on to the host. */
export function reportHookError(tracer: Tracer, hook: string, err: unknown): void {
  tracer.diagnostics.warn('internal', `${hook}: ${errorText(err)}`);
}

/**
 * A table of open spans whose evicted spans end as ERROR, swept by the tracer's timeout.
 * @param what what the spans stand for, in the cap's message ('requests')
 * @param endHook the hook that ends them, in the timeout's message
 */
export function openSpanTable(tracer: Tracer, what: string, endHook: string): OpenSpans {
  const table = new OpenSpans({
    cap: tracer.config.maxOpenSpans,
    what,
    evicted: (span, message) => {
      tracer.fail(span, message);
      tracer.diagnostics.warn('open-span-cap', message);
    },
  });
  tracer.watch(table, endHook);
  return table;
}

/**
 * A new span for a request's span_key, or undefined when its trace is not sampled. The
 * span_key's two fields are copied unchecked, and checked by the exporter (Span.resolve).
 * Unless `checkNow`: a sampler or a user id generator needs the trace id at start.
 */
export function startSpan(
  tracer: Tracer,
  name: string,
  kind: number,
  spanKey: unknown,
  checkNow: boolean,
): Span | undefined {
  const span = Span.fromSpanKey(name, kind, spanKey, 0);
  // (a missing trace_id is rare: only then is the span_key looked at more closely)
  if (span.rawTrace === undefined) reportUnusableSpanKey(tracer, spanKey);
  if (checkNow) {
    span.resolve(tracer.ids.traceId);
    if (!tracer.sampled(span.tid)) return;
    span.sid = tracer.ids.spanId();
  }
  span.start = tracer.clock.now();
  return span;
}

/** Field names that look like a span_key's but are not EcoSystem's trace_id / span_id. */
const MISSPELT_FIELD = /^(?!trace_id$|span_id$)(trace|span)[-_]?id$/i;

/**
 * Says, rate-limited, why a span_key without a trace_id is unusable when the reason is a
 * likely mistake of the sending side (camelCase fields, str(span_key)): every such request
 * starts a trace of its own. Only requests without a trace_id pay for looking.
 */
function reportUnusableSpanKey(tracer: Tracer, spanKey: unknown): void {
  let why: string | undefined;
  if (typeof spanKey === 'string') why = 'it is a string; EcoSystem span keys are objects with trace_id and span_id';
  else if (typeof spanKey === 'object' && spanKey !== null) {
    const misspelt = Object.keys(spanKey).filter((name) => MISSPELT_FIELD.test(name));
    if (misspelt.length > 0) {
      const spelling = '(camelCase or another spelling); EcoSystem span keys have trace_id and span_id';
      why = `it has ${misspelt.join(', ')} ${spelling}`;
    }
  }
  if (why) {
    tracer.diagnostics.warn(
      'span-key',
      `unusable span_key: ${why}. Each such request starts a new trace (flagged request.span_key_invalid) ` +
        'and cannot be linked to its caller',
    );
  }
}

/** Ends a span: OK, or ERROR with `failure` as its status message (and an exception event for `error`). */
export function finish(tracer: Tracer, span: Span, failure?: string, error?: unknown): void {
  if (failure === undefined) {
    // an ERROR (or OK) the handler set through currentSpan() stays
    if (span.statusCode === StatusCode.UNSET) span.statusCode = StatusCode.OK;
    tracer.end(span);
  } else {
    tracer.fail(span, failure, error);
  }
}
