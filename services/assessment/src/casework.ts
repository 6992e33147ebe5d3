import type { EventContext, RecordedEvent } from '@onestop/events';
import { caseDecider, caseStream } from '@onestop/case';
import { loadAggregate, transact, type Decider, type DomainEvent, type UnitOfWork } from '@onestop/kit';
import type { EventStore } from '@onestop/eventstore';
import { assessmentDecider, assessmentStream } from './domain/assessment.js';
import { careDecider, careStream, type CareCommand, type CareState } from './domain/care.js';
import { meetingsDecider, meetingsStream, type MeetingCommand } from './domain/meetings.js';
import { notesDecider, notesStream, type WriteNote } from './domain/notes.js';
import { planDecider, planStream, type AssessmentFact, type PlanCommand } from './domain/plan.js';

/** What a command recorded: nothing (a repeat) or events, the stream's revision, and the last global position. */
export interface CaseworkResult<S> {
  state: S;
  recorded: boolean;
  revision: number;
  position?: number;
}

/** The commands of taking charge (docs/casework.md): each one decides on its own stream, reading the others it needs in the same unit of work. */
export class Casework {
  constructor(private readonly store: EventStore) {}

  /** The case's own commands: opening, transfer, closure, reopening. */
  care(personId: string, command: CareCommand, ec: EventContext): Promise<CaseworkResult<CareState>> {
    return this.on(careStream(personId), careDecider, personId, ec, async () => command);
  }

  /** A plan command, built from the case (and the assessment) read in the same unit of work. */
  plan(personId: string, build: (care: CareState, assessment: AssessmentFact | undefined) => PlanCommand, ec: EventContext, assessmentId?: string) {
    return this.on(planStream(personId), planDecider, personId, ec, async (uow, current) => {
      const care = await this.careOf(uow, personId);
      // the plan's assessment: the one named (an agreement) or the plan's own (a revision)
      const id = assessmentId ?? current.assessmentId;
      return build(care, id ? await this.assessmentOf(id) : undefined);
    });
  }

  /** A meeting command, on the case read in the same unit of work. */
  meeting(personId: string, build: (care: CareState) => MeetingCommand, ec: EventContext) {
    return this.on(meetingsStream(personId), meetingsDecider, personId, ec, async (uow) => build(await this.careOf(uow, personId)));
  }

  /** A note, on the case and the person's open referrals (the reservation stream case-<personId>) read in the same unit of work. */
  note(personId: string, build: (care: CareState, openReferrals: WriteNote['openReferrals']) => WriteNote, ec: EventContext) {
    return this.on(notesStream(personId), notesDecider, personId, ec, async (uow) => {
      const care = await this.careOf(uow, personId);
      const reservations = await uow.load(caseStream(personId), caseDecider, { partitionKey: personId });
      return build(care, reservations.state.openReferrals);
    });
  }

  private async careOf(uow: UnitOfWork, personId: string): Promise<CareState> {
    return (await uow.load(careStream(personId), careDecider, { partitionKey: personId })).state;
  }

  /** The assessment as its stream says now (never written by a plan command). */
  private async assessmentOf(assessmentId: string): Promise<AssessmentFact> {
    const { state, events } = await loadAggregate(this.store, assessmentStream(assessmentId), assessmentDecider);
    // the goals and priority domains are in the completion (the state keeps only what the assessment's rules need)
    const completed = events.find((e): e is RecordedEvent<'AssessmentCompleted'> => e.type === 'AssessmentCompleted');
    return {
      assessmentId,
      personId: state.personId,
      status: state.status,
      priorityDomains: completed?.data.priorityDomains ?? [],
      goals: completed?.data.goals ?? [],
    };
  }

  /**
   * Runs `command` (built from what the unit of work reads) on one stream.
   * Streams read but not written are not guarded by their revision (the
   * store appends only what changed): the rules that read them hold at
   * decision time, and the reads that matter (a partner's) check again.
   */
  private async on<C, E extends DomainEvent, S>(
    streamId: string,
    decider: Decider<C, E, S>,
    personId: string,
    ec: EventContext,
    command: (uow: UnitOfWork, current: S) => Promise<C>,
  ): Promise<CaseworkResult<S>> {
    const { result: part, appended } = await transact(this.store, ec, async (uow) => {
      const target = await uow.load(streamId, decider, { partitionKey: personId });
      target.decide(await command(uow, target.state));
      return target;
    });
    const a = appended.find((x) => x.streamId === streamId);
    return {
      state: part.state,
      recorded: (a?.events.length ?? 0) > 0,
      revision: a ? a.revision : part.revision,
      ...(a?.globalPositions.length ? { position: a.globalPositions.at(-1)! } : {}),
    };
  }
}
