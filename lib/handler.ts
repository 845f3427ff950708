// The "./handler" entry: the span API for handler code (issue 15). Importing it turns the span
// context on for the middlewares (lib/ecosystem/handler-context.ts); services that never import
// it do not carry it in their bundle.
export {
  currentSpan,
  withSpan,
  NOOP_SPAN,
  type ActiveSpan,
  type WithSpanOptions,
  type Attributes,
  type StatusCodeValue,
} from './api/active-span.js';
export { StatusCode, type AttributeValue } from './trace/span.js';
export type { SpanKey } from './ecosystem/contract.js';
