import { z } from 'zod';
import { Actor, IsoDateTime, Uuid } from './primitives.js';
import type { EventData, EventType } from './catalog.js';

/** Stream ids are `<category>-<id>`, e.g. `person-3f0c…`, `partner-caritas`. */
export const StreamId = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[a-z][a-z0-9_]*-[A-Za-z0-9._:-]+$/, 'stream id <category>-<id>');

/**
 * W3C Trace Context `traceparent` (version 00): the CloudEvents distributed
 * tracing extension. Telemetry, not a fact: the hash chain does not cover it.
 */
export const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The CloudEvents-style envelope of DESIGN §3, without the positions the store assigns. */
export const EnvelopeSchema = z.object({
  id: Uuid,
  type: z.string().min(1).max(100),
  schemaVersion: z.number().int().min(1).max(1000),
  source: z.string().regex(/^\/onestop\/[a-z][a-z0-9-]*$/, 'source /onestop/<service>'),
  subject: StreamId,
  time: IsoDateTime,
  /** Kafka key: the personId (partnerId for directory events) */
  partitionKey: z.string().min(1).max(200),
  correlationId: z.string().min(1).max(200),
  causationId: z.string().min(1).max(200).nullable(),
  actor: Actor,
  data: z.unknown(),
  /** the trace of the request that recorded it, when tracing is on */
  traceparent: z.string().regex(TRACEPARENT).optional(),
});

/** An envelope whose payload is not yet checked against the catalog. */
export interface RawEnvelope {
  id: string;
  type: string;
  schemaVersion: number;
  source: string;
  subject: string;
  time: string;
  partitionKey: string;
  correlationId: string;
  causationId: string | null;
  actor: Actor;
  data: unknown;
  /** W3C traceparent of the span that recorded it (tracing on); not covered by the hash chain */
  traceparent?: string;
}

/** What the event store assigns on append. */
export interface Recorded {
  streamPosition: number;
  globalPosition: number;
  /** hex SHA-256 of prevHash ‖ position ‖ canonical envelope */
  hash: string;
  prevHash: string | null;
}

export type RawRecordedEvent = RawEnvelope & Recorded;

type Meta = Omit<RawEnvelope, 'type' | 'data'>;

/** A catalog event: the envelope with a typed payload (a union over every event type). */
export type OneStopEvent<T extends EventType = EventType> = T extends EventType
  ? Meta & { type: T; data: EventData<T> }
  : never;

export type RecordedEvent<T extends EventType = EventType> = OneStopEvent<T> & Recorded;
