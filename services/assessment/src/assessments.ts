import { type EventContext, type RecordedEvent } from '@onestop/events';
import { caseDecider, caseStream } from '@onestop/case';
import { loadAggregate, transact, type CaseFactsView, type ServiceContext } from '@onestop/kit';
import {
  assessmentDecider,
  assessmentStream,
  type AssessmentCommand,
  type AssessmentState,
  type AutomaticCancelReason,
  type CancelAutomatically,
} from './domain/assessment.js';

/** The component that cancels assessments on its own, named as the actor of what it records. */
export const CONSENT_WATCH_ACTOR = 'assessment-consent-watch';

export interface AssessmentResult {
  state: AssessmentState;
  events: RecordedEvent[] | unknown[];
  revision: number;
  globalPositions: number[];
}

/**
 * The assessment service's commands. An assessment's start and its end also
 * open and close it in the person's case (stream case-<personId>) in the same
 * atomic append: the case stream's revision is what allows one open
 * assessment per person, across any number of processes.
 */
export class Assessments {
  constructor(
    private readonly ctx: ServiceContext,
    readonly facts: CaseFactsView,
  ) {}

  /** Runs a command on an assessment, closing it in the person's case when the command closes it. */
  async run(assessmentId: string, personId: string, command: AssessmentCommand, ec: EventContext, newStream = false): Promise<AssessmentResult> {
    const stream = assessmentStream(assessmentId);
    const { result: part, appended } = await transact(this.ctx.store, ec, async (uow) => {
      const assessment = await uow.load(stream, assessmentDecider, { partitionKey: personId, newStream });
      const before = assessment.state.status;
      assessment.decide(command);
      const after = assessment.state.status;
      if (after !== before && after !== 'not_started') {
        const kase = await uow.load(caseStream(personId), caseDecider, { partitionKey: personId });
        kase.decide(after === 'open' ? { type: 'OpenAssessment', assessmentId } : { type: 'CloseAssessment', assessmentId, status: after });
      }
      return assessment;
    });
    const a = appended.find((x) => x.streamId === stream);
    return { state: part.state, events: a?.events ?? [], revision: a ? a.revision : part.revision, globalPositions: a?.globalPositions ?? [] };
  }

  /**
   * Cancels the person's open assessment because of `cause` (a withdrawal of
   * the assessment consent, or the erasure), decided from the event itself:
   * a withdrawal cancels only an assessment started under the consent it ends.
   */
  async cancelOpenOf(personId: string, reason: AutomaticCancelReason, cause: RecordedEvent, endedConsent?: string): Promise<number> {
    const { state } = await loadAggregate(this.ctx.store, caseStream(personId), caseDecider);
    if (!state.openAssessment) return 0;
    return this.cancelAutomatically(state.openAssessment, personId, { type: 'CancelAutomatically', reason, ...(endedConsent ? { endedConsent } : {}) }, cause);
  }

  async cancelAutomatically(assessmentId: string, personId: string, command: CancelAutomatically, cause: RecordedEvent): Promise<number> {
    const r = await this.run(assessmentId, personId, command, {
      source: '/onestop/assessment',
      actor: { id: CONSENT_WATCH_ACTOR, role: 'system' },
      correlationId: cause.correlationId,
      causationId: cause.id,
      time: this.ctx.clock.now().toISOString(),
      // the cancellation continues the trace of the withdrawal or erasure that caused it
      ...(cause.traceparent ? { traceparent: cause.traceparent } : {}),
    });
    return r.events.length;
  }
}
