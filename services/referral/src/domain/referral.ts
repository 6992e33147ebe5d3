import {
  ConflictError,
  OneStopError,
  NotFoundError,
  OPEN_REFERRAL_STATUSES,
  RuleViolation,
  DoneOtherwise,
  type Encrypted,
  type LifeDomain,
  type ReferralStatus as TaskStatus,
} from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import type { PartnerState } from './partner.js';

// The Referral aggregate (stream referral-<referralId>), DESIGN §4 "Referral".
// A referral needs active referral_sharing consent, a completed assessment whose
// need profile has the referral's domain at level ≥ 1, and a partner in the
// agreement that offers the service with free capacity. respondBy comes from
// the partner's agreement. Only the addressed partner answers; transitions
// outside the table below are refused. Two rules span other streams and are
// decided there, in the same atomic append (DESIGN §9): no second open
// referral of the person to the same service (the person's case,
// @onestop/case) and acceptance takes a place (places.ts).
// A referral rests on the consent it was made under: withdrawing that consent
// cancels it; a withdrawal of an earlier consent, even delivered again, does not.
//
//   requested ──accept──► accepted ──start──► in-progress ──complete──► completed
//       │  └──decline──► rejected
//       └────────────── cancel (team, or automatic) ──────────────────► cancelled
//   requested ──(respondBy passes)──► ReferralOverdue, still requested
//
// Waitlist and re-referral (issue 14, part 6):
//   requested ──waitlist──► on-hold ──accept──► accepted     (takes a place then)
//                              ├──decline──► rejected
//                              └──cancel───► cancelled
//   on-hold ──(a place of its service is freed, it is first in line)──► ReferralPlaceAvailable, still on-hold
//   rejected ──re-refer──► ReferralReplaced (the new referral carries replacesReferralId), still rejected
// Only a requested referral is waitlisted: that is the partner's answer when it
// has no free place for it. An accepted referral already holds a place (a
// partner that cannot honour it completes or the team cancels it), and putting
// it on hold would free a place only to queue it again.

export type ReferralEvent = DomainEvent<
  | 'ReferredToPartner'
  | 'ReferralAccepted'
  | 'ReferralDeclined'
  | 'ServiceStarted'
  | 'ServiceCompleted'
  | 'ReferralCancelled'
  | 'ReferralOverdue'
  | 'ReferralWaitlisted'
  | 'ReferralPlaceAvailable'
  | 'ReferralReplaced'
>;

/** FHIR Task.status of each state (the vocabulary of packages/events), or none before the request. */
export type ReferralStatus = 'none' | TaskStatus;

export interface ReferralState {
  status: ReferralStatus;
  referralId: string | null;
  personId: string | null;
  partnerId: string | null;
  serviceId: string | null;
  assessmentId: string | null;
  respondBy: string | null;
  overdue: boolean;
  /** the ConsentGiven event the referral was made under */
  consentEventId: string | null;
  /** what the answers and the cancellation recorded: a repeat with other data is told apart from a plain one */
  recorded: { expectedStart?: string; declineReason?: string; outcome?: string; cancelReason?: string; expectedDate?: string };
  /** the referral that replaced this declined one, and where it went */
  replacedBy: { referralId: string; partnerId: string; serviceId: string } | null;
}

export const initialReferralState: ReferralState = {
  status: 'none',
  referralId: null,
  personId: null,
  partnerId: null,
  serviceId: null,
  assessmentId: null,
  respondBy: null,
  overdue: false,
  consentEventId: null,
  recorded: {},
  replacedBy: null,
};

// ── Commands ────────────────────────────────────────────────────────────────
/** The facts other aggregates and services hold, gathered by the caller. */
export interface ReferralFacts {
  /** the person's referral_sharing consent as referral knows it; undefined when the person is unknown */
  consent: { active: boolean; eventId: string | null } | undefined;
  personErased: boolean;
  assessment: { personId: string; status: 'open' | 'completed' | 'cancelled'; needProfile: Partial<Record<LifeDomain, number>> | null } | undefined;
  partner: PartnerState;
  agreementId: string;
  /** places of this service taken now (its places stream) */
  occupied: number;
}

export interface Refer {
  type: 'Refer';
  referralId: string;
  personId: string;
  assessmentId: string;
  partnerId: string;
  serviceId: string;
  reason: Encrypted;
  priority: 'routine' | 'urgent' | 'asap';
  referredBy: string;
  at: Date;
  facts: ReferralFacts;
  /** a re-referral: the declined referral it replaces */
  replacesReferralId?: string;
}
/** Answers come from a partner: `partnerId` is the caller's, checked against the referral's. */
/** Acceptance also takes a place: the places decider refuses it when none is free. */
export interface Accept {
  type: 'Accept';
  partnerId: string;
  expectedStart?: string;
}
export interface Decline {
  type: 'Decline';
  partnerId: string;
  reason: 'no_capacity' | 'not_eligible' | 'unable_to_contact' | 'other';
  note?: Encrypted;
}
export interface StartService {
  type: 'StartService';
  partnerId: string;
}
export interface CompleteService {
  type: 'CompleteService';
  partnerId: string;
  outcome: 'achieved' | 'partially_achieved' | 'not_achieved' | 'dropped_out';
}
export interface CancelReferral {
  type: 'CancelReferral';
  reason: 'team_decision' | 'person_request' | 'consent_withdrawn' | 'personal_data_erased' | 'partner_left_agreement';
  /** automatic cancellations (consent withdrawn, erasure) are no-ops on closed referrals */
  automatic: boolean;
  /**
   * for a withdrawn consent: the ConsentGiven event the withdrawal ends. Only
   * a referral made under that consent is cancelled; one made under a consent
   * given later is not, whenever the withdrawal is delivered.
   */
  endedConsent?: string;
}
export interface MarkOverdue {
  type: 'MarkOverdue';
  now: Date;
}
/** The partner has no free place: the referral waits until about `expectedDate`. */
export interface Waitlist {
  type: 'Waitlist';
  partnerId: string;
  expectedDate: string;
}
/** The places decider offered this referral a freed place (same atomic append). */
export interface TellPlaceAvailable {
  type: 'TellPlaceAvailable';
  cause: 'place_released' | 'capacity_raised';
}
/** The team re-refers this declined referral: `referralId` is the new one. */
export interface Replace {
  type: 'Replace';
  referralId: string;
  partnerId: string;
  serviceId: string;
}
export type ReferralCommand = Refer | Accept | Decline | StartService | CompleteService | CancelReferral | MarkOverdue | Waitlist | TellPlaceAvailable | Replace;

// ── Domain errors ───────────────────────────────────────────────────────────
const rule = (code: string, message: string, details: Record<string, unknown> = {}) => new RuleViolation(code, message, details);

/**
 * A partner acting on a referral addressed to another partner: the same 404 as
 * for a referral that does not exist, everywhere (reads, HTTP answers, Kafka
 * answers), so that no partner learns which referrals others receive.
 */
export class NotYourReferral extends OneStopError {
  constructor() {
    super('not_found', 'referral not found', 404, { resource: 'referral' });
  }
}
export class TransitionRefused extends RuleViolation {
  constructor(from: ReferralStatus, action: string) {
    super('transition_refused', `a referral that is ${from} cannot be ${action}`, { from, action });
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
const DAY_MS = 24 * 60 * 60 * 1000;

function refer(c: Refer, s: ReferralState): ReferralEvent[] {
  if (s.status !== 'none') throw new ConflictError('referral_exists', `referral ${c.referralId} already exists`);
  const f = c.facts;
  if (!f.consent || f.personErased) {
    throw f.personErased ? rule('personal_data_erased', 'the personal data of this person has been erased') : new NotFoundError('person', c.personId);
  }
  if (!f.consent.active || !f.consent.eventId) {
    throw rule('referral_consent_missing', 'the person has no active referral_sharing consent');
  }
  if (!f.assessment || f.assessment.personId !== c.personId) throw new NotFoundError('assessment of this person', c.assessmentId);
  if (f.assessment.status !== 'completed' || !f.assessment.needProfile) {
    throw rule('assessment_not_completed', 'the assessment is not completed');
  }
  if (!f.partner.partnerId) throw new NotFoundError('partner', c.partnerId);
  const agreement = f.partner.agreements[f.agreementId];
  if (!agreement) throw rule('partner_not_in_agreement', `partner ${c.partnerId} is not in agreement ${f.agreementId}`, { agreementId: f.agreementId });
  const service = f.partner.services[c.serviceId];
  if (!service) throw rule('service_not_offered', `partner ${c.partnerId} does not offer ${c.serviceId}`, { serviceId: c.serviceId });
  const level = f.assessment.needProfile[service.domain] ?? 0;
  if (level < 1) {
    throw rule('no_need_in_domain', `the need profile has ${service.domain} at level ${level}; a referral needs level 1 or more`, {
      domain: service.domain,
      needLevel: level,
    });
  }
  if (f.occupied >= service.capacity) {
    throw rule('no_free_capacity', `service ${c.serviceId} has no free capacity`, { capacity: service.capacity, occupied: f.occupied });
  }
  return [
    {
      type: 'ReferredToPartner',
      data: {
        referralId: c.referralId,
        personId: c.personId,
        assessmentId: c.assessmentId,
        partnerId: c.partnerId,
        serviceId: c.serviceId,
        domain: service.domain,
        reason: c.reason,
        priority: c.priority,
        respondBy: new Date(c.at.getTime() + agreement.responseDays * DAY_MS).toISOString(),
        referredBy: c.referredBy,
        consentEventId: f.consent.eventId,
        ...(c.replacesReferralId ? { replacesReferralId: c.replacesReferralId } : {}),
      },
    },
  ];
}

/** A repeat of a step the referral took: nothing to record, unless its data differs from what was recorded. */
function repeat(action: string, differs: boolean, recorded: Record<string, unknown>): ReferralEvent[] {
  if (differs) throw new DoneOtherwise(action, recorded);
  return [];
}

function addressed(s: ReferralState, partnerId: string): void {
  if (s.status === 'none') throw new NotFoundError('referral', '?');
  if (s.partnerId !== partnerId) throw new NotYourReferral();
}

function accept(c: Accept, s: ReferralState): ReferralEvent[] {
  addressed(s, c.partnerId);
  // a repeat of a finished action records nothing (README, "Repeating an action"); with other data it is refused
  if (s.status === 'accepted' || s.status === 'in-progress' || s.status === 'completed') {
    return repeat('accepting', c.expectedStart !== undefined && c.expectedStart !== s.recorded.expectedStart, { expectedStart: s.recorded.expectedStart ?? null });
  }
  if (s.status !== 'requested' && s.status !== 'on-hold') throw new TransitionRefused(s.status, 'accepted');
  return [{ type: 'ReferralAccepted', data: c.expectedStart ? { expectedStart: c.expectedStart } : {} }];
}

function decline(c: Decline, s: ReferralState): ReferralEvent[] {
  addressed(s, c.partnerId);
  // (the note of a repeat is not compared, nor kept: it is encrypted, and the first one stands)
  if (s.status === 'rejected') return repeat('declining', c.reason !== s.recorded.declineReason, { reason: s.recorded.declineReason });
  if (s.status !== 'requested' && s.status !== 'on-hold') throw new TransitionRefused(s.status, 'declined');
  return [{ type: 'ReferralDeclined', data: { reason: c.reason, ...(c.note ? { note: c.note } : {}) } }];
}

function start(c: StartService, s: ReferralState): ReferralEvent[] {
  addressed(s, c.partnerId);
  if (s.status === 'in-progress' || s.status === 'completed') return [];
  if (s.status !== 'accepted') throw new TransitionRefused(s.status, 'started');
  return [{ type: 'ServiceStarted', data: {} }];
}

function complete(c: CompleteService, s: ReferralState): ReferralEvent[] {
  addressed(s, c.partnerId);
  if (s.status === 'completed') return repeat('completing', c.outcome !== s.recorded.outcome, { outcome: s.recorded.outcome });
  if (s.status !== 'in-progress') throw new TransitionRefused(s.status, 'completed');
  return [{ type: 'ServiceCompleted', data: { outcome: c.outcome } }];
}

/** Open: requested, on hold, accepted or in progress (the statuses of packages/events). */
export const isOpen = (s: ReferralState): boolean => (OPEN_REFERRAL_STATUSES as readonly string[]).includes(s.status);

function cancel(c: CancelReferral, s: ReferralState): ReferralEvent[] {
  if (s.status === 'none') throw new NotFoundError('referral', '?');
  if (!isOpen(s)) {
    if (c.automatic) return [];
    if (s.status === 'cancelled') return repeat('cancelling', c.reason !== s.recorded.cancelReason, { reason: s.recorded.cancelReason });
    throw new TransitionRefused(s.status, 'cancelled');
  }
  // a withdrawal ends one consent: what a later consent covers goes on
  if (c.endedConsent !== undefined && s.consentEventId !== null && c.endedConsent !== s.consentEventId) return [];
  return [{ type: 'ReferralCancelled', data: { reason: c.reason } }];
}

function markOverdue(c: MarkOverdue, s: ReferralState): ReferralEvent[] {
  // exactly once: only a requested referral past its date, not yet marked
  if (s.status !== 'requested' || s.overdue || !s.respondBy) return [];
  if (c.now.getTime() <= new Date(s.respondBy).getTime()) return [];
  return [{ type: 'ReferralOverdue', data: { dueAt: s.respondBy } }];
}

function waitlist(c: Waitlist, s: ReferralState): ReferralEvent[] {
  addressed(s, c.partnerId);
  if (s.status === 'on-hold') return repeat('waitlisting', c.expectedDate !== s.recorded.expectedDate, { expectedDate: s.recorded.expectedDate ?? null });
  if (s.status !== 'requested') throw new TransitionRefused(s.status, 'waitlisted');
  return [{ type: 'ReferralWaitlisted', data: { expectedDate: c.expectedDate } }];
}

function tellPlaceAvailable(c: TellPlaceAvailable, s: ReferralState): ReferralEvent[] {
  // the places stream offers only waitlisted referrals; anything else means it left the line in this same append
  if (s.status !== 'on-hold') return [];
  return [{ type: 'ReferralPlaceAvailable', data: { cause: c.cause } }];
}

function replace(c: Replace, s: ReferralState): ReferralEvent[] {
  if (s.status === 'none') throw new NotFoundError('referral', '?');
  if (s.replacedBy) {
    // the same re-referral again is a plain repeat; to another partner or service it was done otherwise
    const same = s.replacedBy.partnerId === c.partnerId && s.replacedBy.serviceId === c.serviceId;
    return repeat('re-referring', !same, { replacedBy: s.replacedBy.referralId, partnerId: s.replacedBy.partnerId, serviceId: s.replacedBy.serviceId });
  }
  if (s.status !== 'rejected') {
    throw new ConflictError('referral_not_declined', `a referral that is ${s.status} cannot be re-referred: only a declined one can`, { status: s.status });
  }
  return [{ type: 'ReferralReplaced', data: { replacedBy: c.referralId, partnerId: c.partnerId, serviceId: c.serviceId } }];
}

export function decide(c: ReferralCommand, s: ReferralState): ReferralEvent[] {
  switch (c.type) {
    case 'Refer':
      return refer(c, s);
    case 'Accept':
      return accept(c, s);
    case 'Decline':
      return decline(c, s);
    case 'StartService':
      return start(c, s);
    case 'CompleteService':
      return complete(c, s);
    case 'CancelReferral':
      return cancel(c, s);
    case 'MarkOverdue':
      return markOverdue(c, s);
    case 'Waitlist':
      return waitlist(c, s);
    case 'TellPlaceAvailable':
      return tellPlaceAvailable(c, s);
    case 'Replace':
      return replace(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: ReferralState, e: ReferralEvent): ReferralState {
  switch (e.type) {
    case 'ReferredToPartner':
      return {
        status: 'requested',
        referralId: e.data.referralId,
        personId: e.data.personId,
        partnerId: e.data.partnerId,
        serviceId: e.data.serviceId,
        assessmentId: e.data.assessmentId,
        respondBy: e.data.respondBy,
        overdue: false,
        consentEventId: e.data.consentEventId,
        recorded: {},
        replacedBy: null,
      };
    case 'ReferralAccepted':
      return { ...s, status: 'accepted', recorded: { ...s.recorded, ...(e.data.expectedStart ? { expectedStart: e.data.expectedStart } : {}) } };
    case 'ReferralDeclined':
      return { ...s, status: 'rejected', recorded: { ...s.recorded, declineReason: e.data.reason } };
    case 'ServiceStarted':
      return { ...s, status: 'in-progress' };
    case 'ServiceCompleted':
      return { ...s, status: 'completed', recorded: { ...s.recorded, outcome: e.data.outcome } };
    case 'ReferralCancelled':
      return { ...s, status: 'cancelled', recorded: { ...s.recorded, cancelReason: e.data.reason } };
    case 'ReferralOverdue':
      return { ...s, overdue: true };
    case 'ReferralWaitlisted':
      return { ...s, status: 'on-hold', recorded: { ...s.recorded, expectedDate: e.data.expectedDate } };
    case 'ReferralPlaceAvailable':
      return s;
    case 'ReferralReplaced':
      return { ...s, replacedBy: { referralId: e.data.replacedBy, partnerId: e.data.partnerId, serviceId: e.data.serviceId } };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const referralDecider: Decider<ReferralCommand, ReferralEvent, ReferralState> = { initialState: initialReferralState, evolve, decide };
export const referralStream = (referralId: string): string => `referral-${referralId}`;
