import { ConflictError, DoneOtherwise, NotFoundError, RuleViolation, type Encrypted, type EventData, type LifeDomain } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import { GoalMissingForPriorityDomain, type Goal } from './assessment.js';
import { CaseNotOpen, type CareState } from './care.js';

// The personal plan (progetto personalizzato, the patto with the person):
// stream plan-<personId>, partition key the personId (docs/casework.md).
// - It is agreed on an open case from the person's completed assessment
//   (read in the same unit of work): the assessment's goals become the plan's
//   (same ids, same ciphertext), each with an owner (a team member or a
//   partner's service); more goals may be added. Every assessment goal needs
//   an owner, and a plan has at least one goal.
// - It carries the person's commitments, the services' commitments (each
//   with an owner) and a review date after today.
// - Every change is a new version (1, 2, …): a revision carries the whole new
//   content and keeps every priority domain of the assessment covered by a
//   goal; goal progress (achieved, partially achieved, not achieved, dropped,
//   with an encrypted note) is a version of its own.
// - What the plan said on a date is the fold of the events recorded up to it.
// - Agreeing again from the same assessment with the same owners and review
//   date is a repeat; with others it is refused (changes are revisions). A
//   newer completed assessment starts a new plan (its version continues).

export type PlanEvent = DomainEvent<'PlanAgreed' | 'PlanRevised' | 'GoalProgressRecorded'>;
export type PlanGoal = EventData<'PlanAgreed'>['goals'][number];
export type PlanOwner = PlanGoal['owner'];
export type ServiceCommitment = EventData<'PlanAgreed'>['serviceCommitments'][number];
export type GoalProgress = EventData<'GoalProgressRecorded'>['progress'];

export interface PlanState {
  status: 'none' | 'agreed';
  assessmentId: string | null;
  version: number;
  goals: PlanGoal[];
  personCommitments: Encrypted[];
  serviceCommitments: ServiceCommitment[];
  reviewDate: string | null;
  /** the latest progress of each goal */
  progress: Record<string, GoalProgress>;
}

export const initialPlanState: PlanState = {
  status: 'none',
  assessmentId: null,
  version: 0,
  goals: [],
  personCommitments: [],
  serviceCommitments: [],
  reviewDate: null,
  progress: {},
};

/** The assessment a plan is built from, as read from its stream. */
export interface AssessmentFact {
  assessmentId: string;
  personId: string | null;
  status: 'not_started' | 'open' | 'completed' | 'cancelled';
  priorityDomains: LifeDomain[];
  goals: Goal[];
}

// ── Commands ────────────────────────────────────────────────────────────────
interface OnCase {
  care: Pick<CareState, 'status'>;
  /** ISO date, from the command's clock */
  today: string;
}
export interface AgreePlan extends OnCase {
  type: 'AgreePlan';
  personId: string;
  assessment: AssessmentFact;
  /** the owner of every goal of the assessment */
  owners: Array<{ goalId: string; owner: PlanOwner }>;
  /** goals beyond the assessment's (description already encrypted) */
  extraGoals: PlanGoal[];
  personCommitments: Encrypted[];
  serviceCommitments: ServiceCommitment[];
  reviewDate: string;
  agreedBy: string;
}
export interface RevisePlan extends OnCase {
  type: 'RevisePlan';
  /** the whole new list; a goal without description keeps the one it has */
  goals: Array<Omit<PlanGoal, 'description'> & { description?: Encrypted }>;
  personCommitments: Encrypted[];
  serviceCommitments: ServiceCommitment[];
  reviewDate: string;
  reason: EventData<'PlanRevised'>['reason'];
  revisedBy: string;
  /** the priority domains of the plan's assessment */
  priorityDomains: LifeDomain[];
}
export interface RecordGoalProgress extends OnCase {
  type: 'RecordGoalProgress';
  goalId: string;
  progress: GoalProgress;
  note?: Encrypted;
  recordedBy: string;
}
export type PlanCommand = AgreePlan | RevisePlan | RecordGoalProgress;

// ── Domain errors ───────────────────────────────────────────────────────────
export class AssessmentNotCompleted extends RuleViolation {
  constructor(assessmentId: string, status: string) {
    super('assessment_not_completed', 'a plan is built from a completed assessment of the person', { assessmentId, status });
  }
}
export class GoalWithoutOwner extends RuleViolation {
  constructor(goalIds: string[]) {
    super('goal_without_owner', 'every goal of the assessment needs an owner: a team member or a partner service', { goalIds });
  }
}
export class UnknownGoal extends RuleViolation {
  constructor(goalIds: string[]) {
    super('unknown_goal', 'these goals are not in the plan (or the assessment): new goals need a description', { goalIds });
  }
}
export class ReviewDateNotInFuture extends RuleViolation {
  constructor(reviewDate: string, today: string) {
    super('review_date_not_in_future', 'the review date must be after today', { reviewDate, today });
  }
}
export class DuplicateGoal extends RuleViolation {
  constructor(goalIds: string[]) {
    super('duplicate_goal', 'a goal appears once in the plan', { goalIds });
  }
}
export class PlanWithoutGoals extends RuleViolation {
  constructor() {
    super('plan_without_goals', 'a plan has at least one goal: the assessment has none, so add one');
  }
}
export class PlanNotAgreed extends ConflictError {
  constructor() {
    super('plan_not_agreed', 'the person has no plan yet: agree one from the completed assessment first');
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
function onOpenCase(c: OnCase, reviewDate?: string): void {
  if (c.care.status !== 'open') throw new CaseNotOpen(c.care.status);
  if (reviewDate !== undefined && reviewDate <= c.today) throw new ReviewDateNotInFuture(reviewDate, c.today);
}

const ownerKey = (owners: ReadonlyArray<{ goalId: string; owner: PlanOwner }>) =>
  JSON.stringify(owners.map((o) => [o.goalId, o.owner.kind, 'memberId' in o.owner ? o.owner.memberId : `${o.owner.partnerId}/${o.owner.serviceId ?? ''}`]).sort());

function agree(c: AgreePlan, s: PlanState): PlanEvent[] {
  const a = c.assessment;
  if (s.assessmentId === a.assessmentId) {
    const sameOwners = ownerKey(s.goals.map((g) => ({ goalId: g.goalId, owner: g.owner }))) === ownerKey([...c.owners, ...c.extraGoals.map((g) => ({ goalId: g.goalId, owner: g.owner }))]);
    if (sameOwners && s.reviewDate === c.reviewDate) return [];
    throw new DoneOtherwise('agreeing the plan from this assessment', { version: s.version, reviewDate: s.reviewDate });
  }
  if (a.status !== 'completed' || a.personId !== c.personId) throw new AssessmentNotCompleted(a.assessmentId, a.personId === c.personId ? a.status : 'not_found');
  onOpenCase(c, c.reviewDate);
  const owners = new Map(c.owners.map((o) => [o.goalId, o.owner]));
  const unknown = c.owners.filter((o) => !a.goals.some((g) => g.goalId === o.goalId)).map((o) => o.goalId);
  if (unknown.length) throw new UnknownGoal(unknown);
  const withoutOwner = a.goals.filter((g) => !owners.has(g.goalId)).map((g) => g.goalId);
  if (withoutOwner.length) throw new GoalWithoutOwner(withoutOwner);
  const goals: PlanGoal[] = [...a.goals.map((g) => ({ ...g, owner: owners.get(g.goalId)! })), ...c.extraGoals];
  if (goals.length === 0) throw new PlanWithoutGoals();
  return [
    {
      type: 'PlanAgreed',
      data: {
        personId: c.personId,
        assessmentId: a.assessmentId,
        version: s.version + 1,
        goals,
        personCommitments: c.personCommitments,
        serviceCommitments: c.serviceCommitments,
        reviewDate: c.reviewDate,
        agreedBy: c.agreedBy,
      },
    },
  ];
}

function revise(c: RevisePlan, s: PlanState): PlanEvent[] {
  if (s.status === 'none') throw new PlanNotAgreed();
  onOpenCase(c, c.reviewDate);
  const current = new Map(s.goals.map((g) => [g.goalId, g]));
  const twice = c.goals.map((g) => g.goalId).filter((id, i, all) => all.indexOf(id) !== i);
  if (twice.length) throw new DuplicateGoal([...new Set(twice)]);
  const unknown = c.goals.filter((g) => !g.description && !current.has(g.goalId)).map((g) => g.goalId);
  if (unknown.length) throw new UnknownGoal(unknown);
  const goals: PlanGoal[] = c.goals.map((g) => ({ ...g, description: g.description ?? current.get(g.goalId)!.description }));
  const uncovered = c.priorityDomains.filter((d) => !goals.some((g) => g.domain === d));
  if (uncovered.length) throw new GoalMissingForPriorityDomain(uncovered);
  return [
    {
      type: 'PlanRevised',
      data: {
        assessmentId: s.assessmentId!,
        version: s.version + 1,
        goals,
        personCommitments: c.personCommitments,
        serviceCommitments: c.serviceCommitments,
        reviewDate: c.reviewDate,
        reason: c.reason,
        revisedBy: c.revisedBy,
      },
    },
  ];
}

function recordProgress(c: RecordGoalProgress, s: PlanState): PlanEvent[] {
  if (s.status === 'none') throw new PlanNotAgreed();
  if (!s.goals.some((g) => g.goalId === c.goalId)) throw new NotFoundError('goal', c.goalId);
  // the same progress again, with nothing more to say, is a repeat; a note is a new observation
  if (s.progress[c.goalId] === c.progress && !c.note) return [];
  onOpenCase(c);
  return [
    {
      type: 'GoalProgressRecorded',
      data: { version: s.version + 1, goalId: c.goalId, progress: c.progress, ...(c.note ? { note: c.note } : {}), recordedBy: c.recordedBy },
    },
  ];
}

export function decide(c: PlanCommand, s: PlanState): PlanEvent[] {
  switch (c.type) {
    case 'AgreePlan':
      return agree(c, s);
    case 'RevisePlan':
      return revise(c, s);
    case 'RecordGoalProgress':
      return recordProgress(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: PlanState, e: PlanEvent): PlanState {
  switch (e.type) {
    case 'PlanAgreed':
      return {
        status: 'agreed',
        assessmentId: e.data.assessmentId,
        version: e.data.version,
        goals: e.data.goals,
        personCommitments: e.data.personCommitments,
        serviceCommitments: e.data.serviceCommitments,
        reviewDate: e.data.reviewDate,
        progress: {},
      };
    case 'PlanRevised':
      return {
        ...s,
        version: e.data.version,
        goals: e.data.goals,
        personCommitments: e.data.personCommitments,
        serviceCommitments: e.data.serviceCommitments,
        reviewDate: e.data.reviewDate,
      };
    case 'GoalProgressRecorded':
      return { ...s, version: e.data.version, progress: { ...s.progress, [e.data.goalId]: e.data.progress } };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const planDecider: Decider<PlanCommand, PlanEvent, PlanState> = { initialState: initialPlanState, evolve, decide };
export const planStream = (personId: string): string => `plan-${personId}`;
