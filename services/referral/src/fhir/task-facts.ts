import { taskStatusAfter, type RecordedEvent } from '@onestop/events';
import type { TaskFacts } from './resources.js';

/**
 * A referral's Task facts folded from its stream, exact (no view in between):
 * what GET /fhir/Task/{id} and the answer to a change show. The status comes
 * from the one event → Task.status table of packages/events.
 */
export function taskFactsOf(events: readonly RecordedEvent[]): TaskFacts | undefined {
  const first = events[0];
  if (!first || first.type !== 'ReferredToPartner') return undefined;
  const d = first.data;
  let facts: TaskFacts = {
    referralId: d.referralId,
    personId: d.personId,
    assessmentId: d.assessmentId,
    partnerId: d.partnerId,
    serviceId: d.serviceId,
    domain: d.domain,
    priority: d.priority,
    status: 'requested',
    statusReason: null,
    outcome: null,
    consentEventId: d.consentEventId,
    respondBy: d.respondBy,
    overdue: false,
    referredAt: first.time,
    updatedAt: first.time,
    version: first.streamPosition,
    expectedDate: null,
    placeAvailableAt: null,
    replacesReferralId: d.replacesReferralId ?? null,
    replacedBy: null,
  };
  for (const e of events.slice(1)) {
    const status = taskStatusAfter(e.type);
    facts = {
      ...facts,
      ...(status ? { status } : {}),
      ...(e.type === 'ReferralDeclined' || e.type === 'ReferralCancelled' ? { statusReason: e.data.reason } : {}),
      ...(e.type === 'ServiceCompleted' ? { outcome: e.data.outcome } : {}),
      ...(e.type === 'ReferralOverdue' ? { overdue: true } : {}),
      ...(e.type === 'ReferralWaitlisted' ? { expectedDate: e.data.expectedDate } : {}),
      ...(e.type === 'ReferralPlaceAvailable' ? { placeAvailableAt: e.time } : {}),
      ...(e.type === 'ReferralReplaced' ? { replacedBy: e.data.replacedBy } : {}),
      updatedAt: e.time,
      version: e.streamPosition,
    };
  }
  return facts;
}
