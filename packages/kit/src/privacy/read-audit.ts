import { createEvent, type EventContext, type EventData, type RawEnvelope } from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';

/** The stream where the reads and disclosures of a person's data are recorded. */
export const readAuditStream = (personId: string): string => `audit-${personId}`;

/**
 * Records a read or a disclosure of a person's data (DESIGN §6: every read of a
 * case history is itself recorded) as `CaseHistoryRead` in `audit-<personId>`,
 * keyed by the person. Callers record before they answer: a disclosure that
 * could not be recorded is not made.
 */
export async function recordCaseHistoryRead(
  store: EventStore,
  read: EventData<'CaseHistoryRead'>,
  ctx: EventContext,
): Promise<{ eventId: string; position: number }> {
  const event = createEvent('CaseHistoryRead', read, readAuditStream(read.personId), read.personId, ctx);
  // 'any': reads only ever append, and concurrent reads must not refuse each other
  const r = await store.append(readAuditStream(read.personId), [event as RawEnvelope], 'any');
  return { eventId: event.id, position: r.globalPositions[0]! };
}
