import type { RecordedEvent } from '@onestop/events';
import { handleCommand, loadAggregate, type CaseFactsView, type ServiceContext } from '@onestop/kit';
import { assessmentDecider, assessmentStream, type AutomaticCancelReason } from './domain/assessment.js';
import type { PersonAssessments } from './person-assessments.js';

const SOURCE = '/onestop/assessment';

/**
 * What the assessment service does with the facts it hears on the bus, after
 * the facts view has applied them (same batch, in log order):
 * - the `assessment` consent withdrawn, or the personal data erased: every
 *   open assessment of the person is cancelled;
 * - an assessment started after that (a start that raced the withdrawal) is
 *   cancelled as soon as it is seen;
 * - started and closed assessments keep the person's list and the
 *   open-assessment claim right even when a request crashed half-way.
 * Every effect is idempotent: redelivery changes nothing.
 */
export function consentWatch(ctx: ServiceContext, facts: CaseFactsView, assessments: PersonAssessments) {
  const cancel = async (assessmentId: string, reason: AutomaticCancelReason, cause: RecordedEvent) => {
    const res = await handleCommand(ctx.store, assessmentStream(assessmentId), assessmentDecider, { type: 'CancelAutomatically', reason }, {
      partitionKey: (s) => s.personId ?? cause.partitionKey,
      ctx: {
        source: SOURCE,
        actor: { id: 'assessment-consent-watch', role: 'system' },
        correlationId: cause.correlationId,
        causationId: cause.id,
        time: ctx.clock.now().toISOString(),
      },
    });
    if (res.state.status !== 'open' && res.state.personId) await assessments.release(res.state.personId, assessmentId);
  };

  const cancelOpenOf = async (personId: string, reason: AutomaticCancelReason, cause: RecordedEvent) => {
    for (const assessmentId of await assessments.ofPerson(personId)) {
      const { state } = await loadAggregate(ctx.store, assessmentStream(assessmentId), assessmentDecider);
      if (state.status === 'open') await cancel(assessmentId, reason, cause);
    }
  };

  return async (batch: readonly RecordedEvent[]): Promise<void> => {
    for (const e of batch) {
      switch (e.type) {
        case 'ConsentWithdrawn':
          if (e.data.scope === 'assessment') await cancelOpenOf(e.partitionKey, 'consent_withdrawn', e);
          break;
        case 'PersonalDataErased':
          await cancelOpenOf(e.partitionKey, 'personal_data_erased', e);
          break;
        case 'AssessmentStarted': {
          await assessments.recordStarted(e.data.assessmentId, e.data.personId, e.globalPosition);
          // the view holds the whole batch: a withdrawal before this start is in it, one after it is handled below
          const person = await facts.person(e.data.personId);
          if (person?.erased) await cancel(e.data.assessmentId, 'personal_data_erased', e);
          else if (person && !person.assessmentConsent.active) await cancel(e.data.assessmentId, 'consent_withdrawn', e);
          break;
        }
        case 'AssessmentCompleted':
        case 'AssessmentCancelled':
          await assessments.releaseAssessment(e.subject.slice('assessment-'.length));
          break;
        default:
          break;
      }
    }
  };
}
