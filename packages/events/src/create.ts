import { randomUUID } from 'node:crypto';
import { catalogV1, type EventData, type EventType } from './catalog.js';
import type { Actor } from './primitives.js';
import type { OneStopEvent } from './envelope.js';

/** Where an event comes from: the request chain and who caused it. */
export interface EventContext {
  source: string;
  actor: Actor;
  correlationId: string;
  causationId?: string | null;
  /** ISO instant; services take it from an injectable clock */
  time: string;
  /** W3C traceparent of the request's span, when tracing is on */
  traceparent?: string;
}

/** Builds a catalog event for a stream, stamping the current schema version. */
export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  subject: string,
  partitionKey: string,
  ctx: EventContext,
  id: string = randomUUID(),
): OneStopEvent<T> {
  return {
    id,
    type,
    schemaVersion: catalogV1[type].version,
    source: ctx.source,
    subject,
    time: ctx.time,
    partitionKey,
    correlationId: ctx.correlationId,
    causationId: ctx.causationId ?? null,
    actor: ctx.actor,
    data,
    ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
  } as OneStopEvent<T>;
}
