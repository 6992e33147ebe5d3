import { AssessmentAlreadyOpen } from '@onestop/case';
import {
  ConflictError,
  ForbiddenError,
  LIFE_DOMAINS,
  NotFoundError,
  RuleViolation,
  type ActorRole,
  type Encrypted,
  type LifeDomain,
  type NeedLevel,
  type TeamRole,
} from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';

// The Assessment aggregate (stream assessment-<assessmentId>, partition key the
// personId), DESIGN §4 "Assessment":
// - it needs the person's active `assessment` consent, and a person who is
//   known and whose personal data has not been erased;
// - one open assessment per person: a rule of the person's case
//   (@onestop/case), decided in the same atomic append as the start;
// - a team of at least two members with at least two distinct roles, no
//   member listed twice;
// - only team members evaluate and complete; re-evaluating a domain is
//   allowed, the latest evaluation wins;
// - completion needs all seven domains and at least one goal for every
//   priority domain. Priority domains are always derived (every domain at
//   level ≥ 3), never chosen: a priority is a fact of the profile;
// - a goal addresses a need (its domain is at level ≥ 1, like a referral's
//   domain) and has a target date after today;
// - withdrawing the `assessment` consent or erasing the personal data stops
//   the assessment: evaluation and completion are refused, and the bus
//   consumer cancels it (CancelAutomatically: a no-op once it is closed). An
//   assessment rests on the consent it was started under: a withdrawal of an
//   earlier consent, even delivered late or again, does not cancel it;
// - the team (a member) or an admin may cancel; nothing changes once an
//   assessment is completed or cancelled.

export type AssessmentEvent = DomainEvent<'AssessmentStarted' | 'DomainEvaluated' | 'AssessmentCompleted' | 'AssessmentCancelled'>;

export interface TeamMember {
  memberId: string;
  role: TeamRole;
}

/** A goal of the personal plan; the description is personal data, encrypted with the person's key. */
export interface Goal {
  goalId: string;
  domain: LifeDomain;
  description: Encrypted;
  targetDate: string;
}

/** What the assessment service knows about the person, from intake's events (its own view). */
export interface PersonFact {
  /** registered, as far as this service has heard */
  known: boolean;
  erased: boolean;
  /** the `assessment` consent is active */
  assessmentConsent: boolean;
  /** the ConsentGiven event of the active consent, if this service knows it */
  consentEventId?: string | null;
}

/** Why an assessment is cancelled: codes, never free text, so no personal data reaches the log in clear. */
export const MANUAL_CANCEL_REASONS = ['team_decision', 'person_request', 'person_moved_away', 'started_in_error'] as const;
export const AUTOMATIC_CANCEL_REASONS = ['consent_withdrawn', 'personal_data_erased'] as const;
export type ManualCancelReason = (typeof MANUAL_CANCEL_REASONS)[number];
export type AutomaticCancelReason = (typeof AUTOMATIC_CANCEL_REASONS)[number];

export interface AssessmentState {
  status: 'not_started' | 'open' | 'completed' | 'cancelled';
  assessmentId: string | null;
  personId: string | null;
  team: TeamMember[];
  /** latest level per evaluated domain */
  levels: Partial<Record<LifeDomain, NeedLevel>>;
  /** the ConsentGiven event the assessment was started under (null for assessments recorded before it was kept) */
  consentEventId: string | null;
}

export const initialAssessmentState: AssessmentState = {
  status: 'not_started',
  assessmentId: null,
  personId: null,
  team: [],
  levels: {},
  consentEventId: null,
};

/** A need level of 3 or 4 makes a domain a priority of the personal plan. */
export const PRIORITY_LEVEL = 3;

// ── Commands ────────────────────────────────────────────────────────────────
export interface StartAssessment {
  type: 'StartAssessment';
  assessmentId: string;
  personId: string;
  team: TeamMember[];
  person: PersonFact;
}
export interface EvaluateDomain {
  type: 'EvaluateDomain';
  domain: LifeDomain;
  needLevel: NeedLevel;
  /** already encrypted with the person's key */
  notes?: Encrypted;
  /** memberId of the caller */
  evaluatedBy: string;
  person: PersonFact;
}
export interface CompleteAssessment {
  type: 'CompleteAssessment';
  goals: Goal[];
  completedBy: string;
  /** ISO date, from the command's clock */
  today: string;
  person: PersonFact;
}
export interface CancelAssessment {
  type: 'CancelAssessment';
  reason: ManualCancelReason;
  /** a team caller must be a member of this assessment's team; an admin may always cancel */
  cancelledBy: { id: string; role: ActorRole };
}
export interface CancelAutomatically {
  type: 'CancelAutomatically';
  reason: AutomaticCancelReason;
  /** for a withdrawn consent: the ConsentGiven event the withdrawal ends; only an assessment started under it is cancelled */
  endedConsent?: string;
}
export type AssessmentCommand = StartAssessment | EvaluateDomain | CompleteAssessment | CancelAssessment | CancelAutomatically;

// ── Domain errors ───────────────────────────────────────────────────────────
export class AssessmentConsentMissing extends RuleViolation {
  constructor(personId: string) {
    super('assessment_consent_missing', `person ${personId} has no active assessment consent`, { personId });
  }
}
export class PersonDataErased extends RuleViolation {
  constructor(personId: string) {
    super('personal_data_erased', `the personal data of person ${personId} has been erased`, { personId });
  }
}
export { AssessmentAlreadyOpen };
export class AssessmentAlreadyStarted extends ConflictError {
  constructor(assessmentId: string) {
    super('assessment_already_started', `assessment ${assessmentId} has already been started`, { assessmentId });
  }
}
export class TeamNotMultidisciplinary extends RuleViolation {
  constructor(members: number, roles: number) {
    super('team_not_multidisciplinary', 'the team needs at least two members with two distinct roles', { members, roles });
  }
}
export class DuplicateTeamMember extends RuleViolation {
  constructor(memberIds: string[]) {
    super('duplicate_team_member', `team members listed more than once: ${memberIds.join(', ')}`, { memberIds });
  }
}
/** 403: the caller is not on this assessment's team. */
export class NotATeamMember extends ForbiddenError {
  override readonly code = 'not_a_team_member';
  constructor(memberId: string) {
    super(`${memberId} is not a member of this assessment's team`);
  }
}
export class AssessmentNotOpen extends ConflictError {
  constructor(status: AssessmentState['status']) {
    super('assessment_not_open', `the assessment is ${status}`, { status });
  }
}
export class DomainsMissing extends RuleViolation {
  constructor(readonly missingDomains: LifeDomain[]) {
    super('domains_missing', `domains not yet evaluated: ${missingDomains.join(', ')}`, { missingDomains });
  }
}
export class GoalMissingForPriorityDomain extends RuleViolation {
  constructor(readonly domains: LifeDomain[]) {
    super('goal_missing_for_priority_domain', `priority domains without a goal: ${domains.join(', ')}`, { domains });
  }
}
export class GoalWithoutNeed extends RuleViolation {
  constructor(readonly domains: LifeDomain[]) {
    super('goal_for_domain_without_need', `goals for domains without a need (level 0): ${domains.join(', ')}`, { domains });
  }
}
export class GoalTargetDateNotInFuture extends RuleViolation {
  constructor(goalIds: string[], today: string) {
    super('goal_target_date_not_in_future', `a goal's target date must be after ${today}`, { goalIds, today });
  }
}

// ── Rules, one small function per command ──────────────────────────────────
function mayAssess(personId: string, person: PersonFact): void {
  if (person.erased) throw new PersonDataErased(personId);
  if (!person.known) throw new NotFoundError('person', personId);
  if (!person.assessmentConsent) throw new AssessmentConsentMissing(personId);
}

function start(c: StartAssessment, s: AssessmentState): AssessmentEvent[] {
  if (s.status !== 'not_started') throw new AssessmentAlreadyStarted(c.assessmentId);
  const ids = c.team.map((m) => m.memberId);
  const repeated = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
  if (repeated.length) throw new DuplicateTeamMember(repeated);
  const roles = new Set(c.team.map((m) => m.role)).size;
  if (c.team.length < 2 || roles < 2) throw new TeamNotMultidisciplinary(c.team.length, roles);
  mayAssess(c.personId, c.person);
  const consentEventId = c.person.consentEventId;
  return [{ type: 'AssessmentStarted', data: { assessmentId: c.assessmentId, personId: c.personId, team: c.team, ...(consentEventId ? { consentEventId } : {}) } }];
}

function mustBeStarted(s: AssessmentState): void {
  if (s.status === 'not_started') throw new NotFoundError('assessment', s.assessmentId ?? '?');
}

function mustBeMember(s: AssessmentState, memberId: string): void {
  if (!s.team.some((m) => m.memberId === memberId)) throw new NotATeamMember(memberId);
}

function mustBeOpen(s: AssessmentState): void {
  if (s.status !== 'open') throw new AssessmentNotOpen(s.status);
}

function evaluate(c: EvaluateDomain, s: AssessmentState): AssessmentEvent[] {
  mustBeStarted(s);
  mustBeMember(s, c.evaluatedBy);
  mustBeOpen(s);
  mayAssess(s.personId!, c.person);
  return [
    {
      type: 'DomainEvaluated',
      data: { domain: c.domain, needLevel: c.needLevel, ...(c.notes ? { notes: c.notes } : {}), evaluatedBy: c.evaluatedBy },
    },
  ];
}

/** The domains at level ≥ 3, in the catalog's order. */
export function priorityDomainsOf(levels: Partial<Record<LifeDomain, NeedLevel>>): LifeDomain[] {
  return LIFE_DOMAINS.filter((d) => (levels[d] ?? 0) >= PRIORITY_LEVEL);
}

function complete(c: CompleteAssessment, s: AssessmentState): AssessmentEvent[] {
  mustBeStarted(s);
  mustBeMember(s, c.completedBy);
  // a repeat of a finished action records nothing: the first completion's profile and goals stand
  if (s.status === 'completed') return [];
  mustBeOpen(s);
  mayAssess(s.personId!, c.person);
  const missing = LIFE_DOMAINS.filter((d) => s.levels[d] === undefined);
  if (missing.length) throw new DomainsMissing(missing);
  const needProfile = Object.fromEntries(LIFE_DOMAINS.map((d) => [d, s.levels[d]!])) as Record<LifeDomain, NeedLevel>;
  const withoutNeed = [...new Set(c.goals.filter((g) => needProfile[g.domain] === 0).map((g) => g.domain))];
  if (withoutNeed.length) throw new GoalWithoutNeed(withoutNeed);
  const late = c.goals.filter((g) => g.targetDate <= c.today).map((g) => g.goalId);
  if (late.length) throw new GoalTargetDateNotInFuture(late, c.today);
  const priorityDomains = priorityDomainsOf(needProfile);
  const uncovered = priorityDomains.filter((d) => !c.goals.some((g) => g.domain === d));
  if (uncovered.length) throw new GoalMissingForPriorityDomain(uncovered);
  return [{ type: 'AssessmentCompleted', data: { needProfile, priorityDomains, goals: c.goals } }];
}

function cancel(c: CancelAssessment, s: AssessmentState): AssessmentEvent[] {
  mustBeStarted(s);
  if (c.cancelledBy.role !== 'admin') mustBeMember(s, c.cancelledBy.id);
  if (s.status === 'cancelled') return [];
  mustBeOpen(s);
  return [{ type: 'AssessmentCancelled', data: { reason: c.reason } }];
}

function cancelAutomatically(c: CancelAutomatically, s: AssessmentState): AssessmentEvent[] {
  // the consumer may see the same fact twice, or after the team closed it
  if (s.status !== 'open') return [];
  // a withdrawal ends one consent: an assessment under a consent given later goes on
  if (c.endedConsent !== undefined && s.consentEventId !== null && c.endedConsent !== s.consentEventId) return [];
  return [{ type: 'AssessmentCancelled', data: { reason: c.reason } }];
}

export function decide(command: AssessmentCommand, state: AssessmentState): AssessmentEvent[] {
  switch (command.type) {
    case 'StartAssessment':
      return start(command, state);
    case 'EvaluateDomain':
      return evaluate(command, state);
    case 'CompleteAssessment':
      return complete(command, state);
    case 'CancelAssessment':
      return cancel(command, state);
    case 'CancelAutomatically':
      return cancelAutomatically(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: AssessmentState, event: AssessmentEvent): AssessmentState {
  switch (event.type) {
    case 'AssessmentStarted':
      return {
        ...state,
        status: 'open',
        assessmentId: event.data.assessmentId,
        personId: event.data.personId,
        team: event.data.team,
        consentEventId: event.data.consentEventId ?? null,
      };
    case 'DomainEvaluated':
      return { ...state, levels: { ...state.levels, [event.data.domain]: event.data.needLevel } };
    case 'AssessmentCompleted':
      return { ...state, status: 'completed' };
    case 'AssessmentCancelled':
      return { ...state, status: 'cancelled' };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const assessmentDecider: Decider<AssessmentCommand, AssessmentEvent, AssessmentState> = {
  initialState: initialAssessmentState,
  evolve,
  decide,
};

export const assessmentStream = (assessmentId: string): string => `assessment-${assessmentId}`;
