import { ROOT_CONTEXT, SpanKind, SpanStatusCode, isSpanContextValid, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { TRACEPARENT, topicForStream, type RecordedEvent } from '@onestop/events';

// OpenTelemetry across the bus. A command's trace travels with its events: the
// store keeps the `traceparent` of the span that appended them, the relay
// sends it on as the CloudEvents `ce_traceparent` header (of its own publish
// span), and a consumer continues it. Spans carry ids, types, topics and
// groups, never a payload: no personal data goes into a trace. With no tracer
// provider registered (ONESTOP_TRACING=off, the default) every span is a no-op
// and nothing is stamped on events.

/** The tracer of the bus (relay and consumers). */
export const busTracer = (): Tracer => trace.getTracer('@onestop/bus');

/** The context whose parent span a W3C traceparent names (the root context when it is absent or malformed). */
export function contextOfTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  if (!traceparent || !TRACEPARENT.test(traceparent)) return base;
  const [, traceId, spanId, flags] = traceparent.split('-');
  return trace.setSpanContext(base, { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) & 1, isRemote: true });
}

/** The W3C traceparent of a span; undefined for a no-op span (tracing off). */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!isSpanContextValid(c) || !span.isRecording()) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** Ends a span with the outcome of the work it measured. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    // the error's class and code only: a message may quote input
    const name = (error as { code?: unknown })?.code ?? (error as Error)?.name ?? 'error';
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(name) });
  }
  span.end();
}

/** The span an event's work gets: its name, kind and attributes. */
export interface EventSpan {
  name: string;
  kind: SpanKind;
  attributes: Record<string, string | number>;
}

/**
 * Runs `work` on events with a span for every event that carries a trace
 * (child of the span it carries), for the time the work takes; the work gets
 * the events with their own span's traceparent, so that what it records
 * continues the same trace. Events without a trace cost nothing.
 */
export async function withEventSpans<T>(events: readonly RecordedEvent[], spanOf: (e: RecordedEvent) => EventSpan, work: (traced: RecordedEvent[]) => Promise<T>): Promise<T> {
  if (!events.some((e) => e.traceparent)) return work([...events]);
  const tracer = busTracer();
  const spans: Span[] = [];
  const traced = events.map((e) => {
    if (!e.traceparent) return e;
    const { name, ...options } = spanOf(e);
    const span = tracer.startSpan(name, options, contextOfTraceparent(e.traceparent));
    spans.push(span);
    const tp = traceparentOf(span);
    return tp ? { ...e, traceparent: tp } : e;
  });
  try {
    const result = await work(traced);
    for (const s of spans) endSpan(s);
    return result;
  } catch (e) {
    for (const s of spans) endSpan(s, e);
    throw e;
  }
}

/** Wraps a consumer's batch handler: a CONSUMER span per traced event, for the time its batch takes. */
export function tracedHandler(group: string, handle: (batch: RecordedEvent[]) => Promise<void>): (batch: RecordedEvent[]) => Promise<void> {
  return (batch) =>
    withEventSpans(
      batch,
      (e) => {
        const topic = topicForStream(e.subject) ?? 'store';
        return {
          name: `process ${topic}`,
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.operation.type': 'process',
            'messaging.destination.name': topic,
            'messaging.consumer.group.name': group,
            'messaging.message.id': e.id,
            'onestop.event.type': e.type,
            'onestop.event.global_position': e.globalPosition,
          },
        };
      },
      handle,
    );
}
