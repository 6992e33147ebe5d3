import { ConflictError } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';

// The person's case (stream case-<personId>), DESIGN §9: the rules that span
// several of a person's aggregates. The assessment and referral services
// append here in the same atomic append as the event a rule guards, so the
// stream's expected revision is the only lock, across any number of processes:
// - one open assessment per person: an assessment opens the case's assessment
//   slot when it starts and frees it when it is completed or cancelled;
// - one open referral per person and service: a referral holds the
//   (partner, service) slot from its request until it is declined, completed
//   or cancelled.
// Opening what is already open under the same id changes nothing, and what
// was closed once never opens again: a command retried after a crash finds its
// own work. Closing an assessment or a referral the case never knew (one
// recorded before case streams existed) records its end all the same, so the
// one-time backfill of older stores can never open it afterwards.

export type CaseEvent = DomainEvent<'CaseAssessmentOpened' | 'CaseAssessmentClosed' | 'CaseReferralOpened' | 'CaseReferralClosed'>;

export interface CaseState {
  /** the person's open assessment, if any */
  openAssessment: string | null;
  /** open referrals by id, with the service each holds */
  openReferrals: Record<string, { partnerId: string; serviceId: string }>;
  /** every assessment and referral id the case has opened or closed */
  seen: string[];
}

export const initialCaseState: CaseState = { openAssessment: null, openReferrals: {}, seen: [] };

// ── Commands ────────────────────────────────────────────────────────────────
export interface OpenAssessment {
  type: 'OpenAssessment';
  assessmentId: string;
}
export interface CloseAssessment {
  type: 'CloseAssessment';
  assessmentId: string;
  status: 'completed' | 'cancelled';
}
export interface OpenReferral {
  type: 'OpenReferral';
  referralId: string;
  partnerId: string;
  serviceId: string;
}
export interface CloseReferral {
  type: 'CloseReferral';
  referralId: string;
  status: 'rejected' | 'completed' | 'cancelled';
}
export type CaseCommand = OpenAssessment | CloseAssessment | OpenReferral | CloseReferral;

// ── Domain errors ───────────────────────────────────────────────────────────
export class AssessmentAlreadyOpen extends ConflictError {
  constructor(readonly openAssessmentId: string) {
    super('assessment_already_open', `the person already has an open assessment: ${openAssessmentId}`, { openAssessmentId });
  }
}
export class ReferralAlreadyOpen extends ConflictError {
  constructor(readonly existingReferralId: string) {
    super('referral_already_open', `the person already has an open referral to this service: ${existingReferralId}`, {
      existingReferralId,
    });
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
function openAssessment(c: OpenAssessment, s: CaseState): CaseEvent[] {
  if (s.openAssessment === c.assessmentId || s.seen.includes(c.assessmentId)) return [];
  if (s.openAssessment) throw new AssessmentAlreadyOpen(s.openAssessment);
  return [{ type: 'CaseAssessmentOpened', data: { assessmentId: c.assessmentId } }];
}

function closeAssessment(c: CloseAssessment, s: CaseState): CaseEvent[] {
  if (s.openAssessment !== c.assessmentId && s.seen.includes(c.assessmentId)) return [];
  return [{ type: 'CaseAssessmentClosed', data: { assessmentId: c.assessmentId, status: c.status } }];
}

/** The open referral of the person to this service, if any. */
export function openReferralTo(s: CaseState, partnerId: string, serviceId: string): string | undefined {
  return Object.entries(s.openReferrals).find(([, r]) => r.partnerId === partnerId && r.serviceId === serviceId)?.[0];
}

function openReferral(c: OpenReferral, s: CaseState): CaseEvent[] {
  if (s.openReferrals[c.referralId] || s.seen.includes(c.referralId)) return [];
  const existing = openReferralTo(s, c.partnerId, c.serviceId);
  if (existing) throw new ReferralAlreadyOpen(existing);
  return [{ type: 'CaseReferralOpened', data: { referralId: c.referralId, partnerId: c.partnerId, serviceId: c.serviceId } }];
}

function closeReferral(c: CloseReferral, s: CaseState): CaseEvent[] {
  if (!s.openReferrals[c.referralId] && s.seen.includes(c.referralId)) return [];
  return [{ type: 'CaseReferralClosed', data: { referralId: c.referralId, status: c.status } }];
}

export function decide(c: CaseCommand, s: CaseState): CaseEvent[] {
  switch (c.type) {
    case 'OpenAssessment':
      return openAssessment(c, s);
    case 'CloseAssessment':
      return closeAssessment(c, s);
    case 'OpenReferral':
      return openReferral(c, s);
    case 'CloseReferral':
      return closeReferral(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

const withId = (ids: string[], id: string) => (ids.includes(id) ? ids : [...ids, id]);

export function evolve(s: CaseState, e: CaseEvent): CaseState {
  switch (e.type) {
    case 'CaseAssessmentOpened':
      return { ...s, openAssessment: e.data.assessmentId, seen: [...s.seen, e.data.assessmentId] };
    case 'CaseAssessmentClosed':
      return { ...s, openAssessment: s.openAssessment === e.data.assessmentId ? null : s.openAssessment, seen: withId(s.seen, e.data.assessmentId) };
    case 'CaseReferralOpened':
      return {
        ...s,
        openReferrals: { ...s.openReferrals, [e.data.referralId]: { partnerId: e.data.partnerId, serviceId: e.data.serviceId } },
        seen: [...s.seen, e.data.referralId],
      };
    case 'CaseReferralClosed': {
      const { [e.data.referralId]: _closed, ...open } = s.openReferrals;
      return { ...s, openReferrals: open, seen: withId(s.seen, e.data.referralId) };
    }
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const caseDecider: Decider<CaseCommand, CaseEvent, CaseState> = { initialState: initialCaseState, evolve, decide };
export const caseStream = (personId: string): string => `case-${personId}`;
