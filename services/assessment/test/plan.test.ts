import { describe, expect, it } from 'vitest';
import { DoneOtherwise, NotFoundError } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { GoalMissingForPriorityDomain } from '../src/domain/assessment.js';
import { CaseNotOpen } from '../src/domain/care.js';
import {
  AssessmentNotCompleted,
  DuplicateGoal,
  GoalWithoutOwner,
  PlanNotAgreed,
  PlanWithoutGoals,
  ReviewDateNotInFuture,
  UnknownGoal,
  planDecider,
  type AgreePlan,
  type AssessmentFact,
  type PlanEvent,
  type RevisePlan,
} from '../src/domain/plan.js';

const spec = deciderSpec(planDecider);
const personId = '11111111-1111-4111-8111-111111111111';
const assessmentId = '22222222-2222-4222-8222-222222222222';
const gWork = '33333333-3333-4333-8333-333333333333';
const gHouse = '44444444-4444-4444-8444-444444444444';
const gNew = '77777777-7777-4777-8777-777777777777';
const enc = (ct: string) => ({ alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct, tag: 'AAAAAAAAAAAAAAAAAAAAAA==' }) as const;
const eo = { kind: 'team', memberId: 'eo-1', role: 'employment_operator' } as const;
const caritas = { kind: 'partner', partnerId: 'caritas', serviceId: 'casa' } as const;
const openCase = { status: 'open' } as const;

const assessment: AssessmentFact = {
  assessmentId,
  personId,
  status: 'completed',
  priorityDomains: ['employment', 'housing'],
  goals: [
    { goalId: gWork, domain: 'employment', description: enc('d29yaw=='), targetDate: '2027-06-30' },
    { goalId: gHouse, domain: 'housing', description: enc('aG91c2U='), targetDate: '2027-03-31' },
  ],
};
const agree: AgreePlan = {
  type: 'AgreePlan',
  personId,
  assessment,
  owners: [
    { goalId: gWork, owner: eo },
    { goalId: gHouse, owner: caritas },
  ],
  extraGoals: [],
  personCommitments: [enc('cGVyc29u')],
  serviceCommitments: [{ owner: caritas, text: enc('c2VydmljZQ==') }],
  reviewDate: '2027-01-15',
  agreedBy: 'sw-1',
  today: '2026-10-20',
  care: openCase,
};
const agreed: PlanEvent = {
  type: 'PlanAgreed',
  data: {
    personId,
    assessmentId,
    version: 1,
    goals: [
      { goalId: gWork, domain: 'employment', description: enc('d29yaw=='), targetDate: '2027-06-30', owner: eo },
      { goalId: gHouse, domain: 'housing', description: enc('aG91c2U='), targetDate: '2027-03-31', owner: caritas },
    ],
    personCommitments: [enc('cGVyc29u')],
    serviceCommitments: [{ owner: caritas, text: enc('c2VydmljZQ==') }],
    reviewDate: '2027-01-15',
    agreedBy: 'sw-1',
  },
};
const revise: RevisePlan = {
  type: 'RevisePlan',
  goals: [
    { goalId: gWork, domain: 'employment', targetDate: '2027-09-30', owner: caritas },
    { goalId: gHouse, domain: 'housing', targetDate: '2027-03-31', owner: caritas },
  ],
  personCommitments: [],
  serviceCommitments: [],
  reviewDate: '2027-04-15',
  reason: 'review',
  revisedBy: 'sw-1',
  priorityDomains: ['employment', 'housing'],
  today: '2027-01-15',
  care: openCase,
};

describe('Personal plan', () => {
  describe('when there is no plan', () => {
    it('agrees one from the completed assessment: its goals with an owner each, commitments, a review date; version 1', () =>
      spec.given([]).when(agree).then([agreed]));
    it('adds goals beyond the assessment’s', () => {
      const extra = { goalId: gNew, domain: 'training' as const, description: enc('bmV3'), targetDate: '2027-05-01', owner: eo };
      spec.given([]).when({ ...agree, extraGoals: [extra] }).thenMatches([{ type: 'PlanAgreed', data: { goals: [{ goalId: gWork }, { goalId: gHouse }, { goalId: gNew }] } }]);
    });
    it('refuses an assessment that is not completed, or of another person', () => {
      spec.given([]).when({ ...agree, assessment: { ...assessment, status: 'open' } }).thenThrows(AssessmentNotCompleted, 'assessment_not_completed');
      spec.given([]).when({ ...agree, assessment: { ...assessment, personId: gNew } }).thenThrows(AssessmentNotCompleted, 'assessment_not_completed');
    });
    it('refuses a goal of the assessment without an owner, naming it', () => {
      const e = spec.given([]).when({ ...agree, owners: [{ goalId: gWork, owner: eo }] }).thenThrows(GoalWithoutOwner, 'goal_without_owner');
      expect(e.details).toEqual({ goalIds: [gHouse] });
    });
    it('refuses a plan without goals (an assessment with none, and none added)', () =>
      spec.given([]).when({ ...agree, assessment: { ...assessment, goals: [], priorityDomains: [] }, owners: [] }).thenThrows(PlanWithoutGoals, 'plan_without_goals'));
    it('refuses an owner for a goal the assessment does not have', () =>
      spec.given([]).when({ ...agree, owners: [...agree.owners, { goalId: gNew, owner: eo }] }).thenThrows(UnknownGoal, 'unknown_goal'));
    it('refuses a review date that is not after today', () =>
      spec.given([]).when({ ...agree, reviewDate: '2026-10-20' }).thenThrows(ReviewDateNotInFuture, 'review_date_not_in_future'));
    it('refuses without an open case', () => spec.given([]).when({ ...agree, care: { status: 'closed' } }).thenThrows(CaseNotOpen, 'case_not_open'));
    it('refuses revisions and progress: there is no plan', () => {
      spec.given([]).when(revise).thenThrows(PlanNotAgreed, 'plan_not_agreed');
      spec.given([]).when({ type: 'RecordGoalProgress', goalId: gWork, progress: 'achieved', recordedBy: 'eo-1', today: '2027-01-15', care: openCase }).thenThrows(PlanNotAgreed);
    });
  });

  describe('when the plan is agreed', () => {
    it('agreeing it again from the same assessment with the same owners and review date is a repeat', () => spec.given([agreed]).when(agree).thenNothing());
    it('agreeing it again with other owners or another review date is refused: changes are revisions', () => {
      spec.given([agreed]).when({ ...agree, reviewDate: '2027-02-01' }).thenThrows(DoneOtherwise, 'done_otherwise');
      spec.given([agreed]).when({ ...agree, owners: [{ goalId: gWork, owner: caritas }, { goalId: gHouse, owner: caritas }] }).thenThrows(DoneOtherwise);
    });
    it('a revision is version 2, with the whole new content; goals sent without a description keep theirs', () =>
      spec.given([agreed]).when(revise).then([
        {
          type: 'PlanRevised',
          data: {
            assessmentId,
            version: 2,
            goals: [
              { goalId: gWork, domain: 'employment', description: enc('d29yaw=='), targetDate: '2027-09-30', owner: caritas },
              { goalId: gHouse, domain: 'housing', description: enc('aG91c2U='), targetDate: '2027-03-31', owner: caritas },
            ],
            personCommitments: [],
            serviceCommitments: [],
            reviewDate: '2027-04-15',
            reason: 'review',
            revisedBy: 'sw-1',
          },
        },
      ]));
    it('a revision keeps every priority domain covered', () => {
      const e = spec.given([agreed]).when({ ...revise, goals: [revise.goals[0]!] }).thenThrows(GoalMissingForPriorityDomain, 'goal_missing_for_priority_domain');
      expect(e.details).toEqual({ domains: ['housing'] });
    });
    it('a revision refuses a goal listed twice, naming it', () => {
      const e = spec.given([agreed]).when({ ...revise, goals: [...revise.goals, revise.goals[0]!] }).thenThrows(DuplicateGoal, 'duplicate_goal');
      expect(e.details).toEqual({ goalIds: [gWork] });
    });
    it('a revision refuses a new goal without a description', () =>
      spec.given([agreed]).when({ ...revise, goals: [...revise.goals, { goalId: gNew, domain: 'training', targetDate: '2027-05-01', owner: eo }] }).thenThrows(UnknownGoal));
    it('records a goal’s progress as a version of its own, with an encrypted note', () =>
      spec
        .given([agreed])
        .when({ type: 'RecordGoalProgress', goalId: gHouse, progress: 'partially_achieved', note: enc('bm90ZQ=='), recordedBy: 'sw-1', today: '2027-01-15', care: openCase })
        .then([{ type: 'GoalProgressRecorded', data: { version: 2, goalId: gHouse, progress: 'partially_achieved', note: enc('bm90ZQ=='), recordedBy: 'sw-1' } }]));
    it('refuses progress of a goal the plan does not have', () =>
      spec.given([agreed]).when({ type: 'RecordGoalProgress', goalId: gNew, progress: 'achieved', recordedBy: 'sw-1', today: '2027-01-15', care: openCase }).thenThrows(NotFoundError));
    it('refuses changes on a closed case', () => spec.given([agreed]).when({ ...revise, care: { status: 'closed' } }).thenThrows(CaseNotOpen));
  });

  describe('when progress was recorded', () => {
    const progressed: PlanEvent[] = [agreed, { type: 'GoalProgressRecorded', data: { version: 2, goalId: gHouse, progress: 'achieved', recordedBy: 'sw-1' } }];
    const again = { type: 'RecordGoalProgress', goalId: gHouse, progress: 'achieved', recordedBy: 'sw-1', today: '2027-01-15', care: openCase } as const;
    it('the same progress again without a note is a repeat; with a note, a new observation (version 3)', () => {
      spec.given(progressed).when(again).thenNothing();
      spec.given(progressed).when({ ...again, note: enc('eA==') }).thenMatches([{ type: 'GoalProgressRecorded', data: { version: 3 } }]);
    });
    it('a revision continues the version count', () => spec.given(progressed).when(revise).thenMatches([{ type: 'PlanRevised', data: { version: 3 } }]));
    it('a plan from a newer assessment starts over with its goals, continuing the versions', () => {
      const newer = { ...assessment, assessmentId: gNew, goals: [{ goalId: gNew, domain: 'employment' as const, description: enc('bg=='), targetDate: '2028-01-01' }], priorityDomains: ['employment' as const] };
      spec
        .given(progressed)
        .when({ ...agree, assessment: newer, owners: [{ goalId: gNew, owner: eo }], today: '2027-06-01', reviewDate: '2027-09-01' })
        .thenMatches([{ type: 'PlanAgreed', data: { assessmentId: gNew, version: 3, goals: [{ goalId: gNew }] } }]);
      const s = spec.given([...progressed, { ...agreed, data: { ...agreed.data, assessmentId: gNew, version: 3 } }]).state;
      expect(s.progress).toEqual({});
    });
  });
});
