import type { RecordedEvent } from '@onestop/events';
import type { Assessments } from './assessments.js';
import type { PersonAssessments } from './person-assessments.js';

/**
 * What the assessment service does with the facts it hears on the bus, after
 * the facts view has applied them (same batch, in log order). Each effect is
 * decided from the event itself, so duplicates, a redelivery from the start
 * and any interleaving of the topics give the same effects:
 * - the `assessment` consent withdrawn: the open assessment started under the
 *   consent the withdrawal ends is cancelled (one started under a consent
 *   given later is not); the personal data erased: the open assessment is
 *   cancelled;
 * - an assessment seen to start under a consent that has already ended (a
 *   start that raced the withdrawal through a view not yet up to date) is
 *   cancelled;
 * - started assessments are listed for their person (a read-only view).
 */
export function consentWatch(assessments: Assessments, byPerson: PersonAssessments) {
  const { facts } = assessments;
  return async (batch: readonly RecordedEvent[]): Promise<void> => {
    for (const e of batch) {
      switch (e.type) {
        case 'ConsentWithdrawn':
          if (e.data.scope !== 'assessment') break;
          {
            const ended = await facts.consentEndedBy(e);
            // a withdrawal with no consent before it ends nothing
            if (ended) await assessments.cancelOpenOf(e.partitionKey, 'consent_withdrawn', e, ended);
          }
          break;
        case 'PersonalDataErased':
          await assessments.cancelOpenOf(e.partitionKey, 'personal_data_erased', e);
          break;
        case 'AssessmentStarted': {
          await byPerson.recordStarted(e.data.assessmentId, e.data.personId, e.globalPosition);
          const { consentEventId, personId, assessmentId } = e.data;
          const ended = consentEventId ? await facts.consentEndReason(personId, consentEventId) : undefined;
          if (ended) {
            await assessments.cancelAutomatically(
              assessmentId,
              personId,
              ended === 'personal_data_erased' ? { type: 'CancelAutomatically', reason: ended } : { type: 'CancelAutomatically', reason: ended, endedConsent: consentEventId },
              e,
            );
          }
          break;
        }
        default:
          break;
      }
    }
  };
}
