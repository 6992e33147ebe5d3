import { liftStored, NotFoundError, streamCategory, type EventContext, type RawRecordedEvent } from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';
import { readAuditStream, recordCaseHistoryRead } from '@onestop/kit';
import {
  assessmentDecider,
  careDecider,
  meetingsDecider,
  planDecider,
  personDecider,
  referralDecider,
  type AssessmentEvent,
  type AssessmentState,
  type CareEvent,
  type CareState,
  type MeetingEvent,
  type MeetingsState,
  type PlanEvent,
  type PlanState,
  type PersonEvent,
  type PersonState,
  type ReferralEvent,
  type ReferralState,
} from './case-deciders.js';

/** Why a case history was read (the CaseHistoryRead purposes this service records). */
export type ReadPurpose = 'audit' | 'as_of_replay';

export interface CaseHistoryView {
  personId: string;
  streams: Array<{ streamId: string; events: number }>;
  /** every event of every stream of the case, in global order, as stored (personal data stays ciphertext) */
  events: RawRecordedEvent[];
}

export interface CaseAsOf {
  personId: string;
  /** the instant asked for */
  at: string;
  /** events with time ≤ at that were folded */
  eventsReplayed: number;
  /** global position of the last of them (0 when none) */
  position: number;
  person: PersonState;
  assessments: Array<{ assessmentId: string; state: AssessmentState }>;
  referrals: Array<{ referralId: string; state: ReferralState }>;
  /** taking charge (docs/casework.md): the case, the plan (codes, dates, owners; texts stay ciphertext) and the meetings */
  care: CareState;
  plan: PlanState;
  meetings: MeetingsState;
  /** reads of the case history recorded up to that instant */
  historyReads: number;
}

export const personStreamOf = (personId: string): string => `person-${personId}`;

const idOf = (streamId: string) => streamId.slice(streamId.indexOf('-') + 1);

/**
 * The audit trail of a case, read from the event store alone (the source of
 * truth): every event carrying the person's partition key, through the
 * store's case index, with their positions and hashes. No read model decides
 * what belongs to a case.
 */
export class CaseHistory {
  constructor(private readonly store: EventStore) {}

  /** Throws NotFoundError unless the person has a stream in the store. */
  async mustExist(personId: string): Promise<void> {
    const first = await this.store.readStream(personStreamOf(personId), { maxCount: 1 });
    if (first.length === 0) throw new NotFoundError('case', personId);
  }

  /** The case's streams, as the store's case index has them (always the person and audit streams). */
  async streamsOf(personId: string): Promise<string[]> {
    const events = await this.store.readCase(personId);
    return [...new Set([personStreamOf(personId), readAuditStream(personId), ...events.map((e) => e.subject)])].sort();
  }

  /** Records a read of the case history (DESIGN §6) in the case's audit stream. */
  recordRead(personId: string, purpose: ReadPurpose, readBy: string, ctx: EventContext): Promise<{ eventId: string; position: number }> {
    return recordCaseHistoryRead(this.store, { personId, purpose, readBy }, ctx);
  }

  /** Every event of the case across its streams, in global order. */
  async history(personId: string): Promise<CaseHistoryView> {
    const events = await this.store.readCase(personId);
    const counts = new Map<string, number>();
    for (const e of events) counts.set(e.subject, (counts.get(e.subject) ?? 0) + 1);
    const streams = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([streamId, n]) => ({ streamId, events: n }));
    return { personId, streams, events };
  }

  /**
   * The case as it was at an instant: the deciders' own `evolve` folded over
   * the events recorded at or before it (time ≤ at).
   */
  async asOf(personId: string, at: Date): Promise<CaseAsOf> {
    // the fold needs neither hashes nor the rest of the metadata: reading only
    // what it needs, in one query, halves the time of a large case
    const until = (await this.store.readCaseForFold(personId, at)).map(liftStored);
    let person = personDecider.initialState;
    const assessments = new Map<string, AssessmentState>();
    const referrals = new Map<string, ReferralState>();
    let care = careDecider.initialState;
    let plan = planDecider.initialState;
    let meetings = meetingsDecider.initialState;
    let historyReads = 0;
    for (const e of until) {
      switch (streamCategory(e.subject)) {
        case 'person':
          person = personDecider.evolve(person, e as unknown as PersonEvent & { id: string });
          break;
        case 'assessment': {
          const id = idOf(e.subject);
          assessments.set(id, assessmentDecider.evolve(assessments.get(id) ?? assessmentDecider.initialState, e as unknown as AssessmentEvent));
          break;
        }
        case 'referral': {
          const id = idOf(e.subject);
          referrals.set(id, referralDecider.evolve(referrals.get(id) ?? referralDecider.initialState, e as unknown as ReferralEvent));
          break;
        }
        case 'care':
          care = careDecider.evolve(care, e as unknown as CareEvent);
          break;
        case 'plan':
          plan = planDecider.evolve(plan, e as unknown as PlanEvent);
          break;
        case 'meetings':
          meetings = meetingsDecider.evolve(meetings, e as unknown as MeetingEvent);
          break;
        case 'audit':
          if (e.type === 'CaseHistoryRead') historyReads += 1;
          break;
        default:
          break;
      }
    }
    return {
      personId,
      at: at.toISOString(),
      eventsReplayed: until.length,
      position: until.at(-1)?.globalPosition ?? 0,
      person,
      assessments: [...assessments].map(([assessmentId, state]) => ({ assessmentId, state })),
      referrals: [...referrals].map(([referralId, state]) => ({ referralId, state })),
      care,
      plan,
      meetings,
      historyReads,
    };
  }
}
