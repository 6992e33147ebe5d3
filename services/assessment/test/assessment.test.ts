import { describe, expect, it } from 'vitest';
import { LIFE_DOMAINS, NotFoundError, type Encrypted, type LifeDomain } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import {
  AssessmentAlreadyStarted,
  AssessmentConsentMissing,
  AssessmentNotOpen,
  assessmentDecider,
  DomainsMissing,
  DuplicateTeamMember,
  GoalMissingForPriorityDomain,
  GoalTargetDateNotInFuture,
  GoalWithoutNeed,
  NotATeamMember,
  PersonDataErased,
  TeamNotMultidisciplinary,
  type AssessmentEvent,
  type CompleteAssessment,
  type EvaluateDomain,
  type Goal,
  type PersonFact,
  type StartAssessment,
} from '../src/domain/assessment.js';

const spec = deciderSpec(assessmentDecider);
const enc = (ct: string): Encrypted => ({ alg: 'A256GCM', kid: personId, iv: 'aXY=', ct, tag: 'dGFn' });
const assessmentId = '0b6f3c1e-2a4d-4c8e-9f10-1a2b3c4d5e6f';
const personId = '6f1c2a8e-6f0b-4f5a-9c61-3d2f1e0a9b11';
const team = [
  { memberId: 'sw-1', role: 'social_worker' as const },
  { memberId: 'eo-1', role: 'employment_operator' as const },
];
const consenting: PersonFact = { known: true, erased: false, assessmentConsent: true };
const start: StartAssessment = { type: 'StartAssessment', assessmentId, personId, team, person: consenting };
const started: AssessmentEvent = { type: 'AssessmentStarted', data: { assessmentId, personId, team } };
const consentGiven = '99999999-9999-4999-8999-999999999999';
const startedUnderConsent: AssessmentEvent = { type: 'AssessmentStarted', data: { assessmentId, personId, team, consentEventId: consentGiven } };
const evaluated = (domain: LifeDomain, needLevel: number, evaluatedBy = 'sw-1'): AssessmentEvent => ({
  type: 'DomainEvaluated',
  data: { domain, needLevel, evaluatedBy },
});
const evaluate = (domain: LifeDomain, needLevel: number, extra: Partial<EvaluateDomain> = {}): EvaluateDomain => ({
  type: 'EvaluateDomain',
  domain,
  needLevel,
  evaluatedBy: 'sw-1',
  person: consenting,
  ...extra,
});
// employment and housing are priorities (level ≥ 3), education has no need
const levels: Record<LifeDomain, number> = { economic: 2, employment: 4, education: 0, housing: 3, social_network: 1, health_care: 2, training: 1 };
const allEvaluated = LIFE_DOMAINS.map((d) => evaluated(d, levels[d]));
const goal = (domain: LifeDomain, targetDate = '2027-06-30', n = 1): Goal => ({
  goalId: `00000000-0000-4000-8000-00000000000${n}`,
  domain,
  description: enc(`goal-${domain}`),
  targetDate,
});
const complete = (goals: Goal[], extra: Partial<CompleteAssessment> = {}): CompleteAssessment => ({
  type: 'CompleteAssessment',
  goals,
  completedBy: 'eo-1',
  today: '2026-11-26',
  person: consenting,
  ...extra,
});
const planGoals = [goal('employment', '2027-06-30', 1), goal('housing', '2027-03-31', 2)];
const completed: AssessmentEvent = {
  type: 'AssessmentCompleted',
  data: { needProfile: levels, priorityDomains: ['employment', 'housing'], goals: planGoals },
};
const cancelled: AssessmentEvent = { type: 'AssessmentCancelled', data: { reason: 'team_decision' } };

describe('When not started', () => {
  it('starts with a multidisciplinary team', () => spec.given([]).when(start).then([started]));

  it('starts with more members, some sharing a role', () => {
    const bigger = [...team, { memberId: 'sw-2', role: 'social_worker' as const }];
    spec.given([]).when({ ...start, team: bigger }).then([{ type: 'AssessmentStarted', data: { assessmentId, personId, team: bigger } }]);
  });

  it('refuses without an active assessment consent', () =>
    spec.given([]).when({ ...start, person: { ...consenting, assessmentConsent: false } }).thenThrows(AssessmentConsentMissing, 'assessment_consent_missing'));

  it('refuses a person it does not know', () =>
    spec.given([]).when({ ...start, person: { known: false, erased: false, assessmentConsent: false } }).thenThrows(NotFoundError, 'not_found'));

  it('refuses a person whose personal data was erased', () =>
    spec.given([]).when({ ...start, person: { known: true, erased: true, assessmentConsent: false } }).thenThrows(PersonDataErased, 'personal_data_erased'));

  it('records the consent it rests on', () =>
    spec
      .given([])
      .when({ ...start, person: { ...consenting, consentEventId: consentGiven } })
      .then([{ type: 'AssessmentStarted', data: { assessmentId, personId, team, consentEventId: consentGiven } }]));

  it('refuses a team of one member', () =>
    spec.given([]).when({ ...start, team: [team[0]!] }).thenThrows(TeamNotMultidisciplinary, 'team_not_multidisciplinary'));

  it('refuses a team whose members all have one role', () =>
    spec
      .given([])
      .when({ ...start, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'sw-2', role: 'social_worker' }] })
      .thenThrows(TeamNotMultidisciplinary, 'team_not_multidisciplinary'));

  it('refuses a member listed twice and names them', () => {
    const err = spec
      .given([])
      .when({ ...start, team: [...team, { memberId: 'sw-1', role: 'tutor' }] })
      .thenThrows(DuplicateTeamMember, 'duplicate_team_member');
    expect(err.details).toEqual({ memberIds: ['sw-1'] });
  });

  it('has nothing to evaluate, complete or cancel', () => {
    spec.given([]).when(evaluate('housing', 2)).thenThrows(NotFoundError);
    spec.given([]).when(complete(planGoals)).thenThrows(NotFoundError);
    spec.given([]).when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'admin-1', role: 'admin' } }).thenThrows(NotFoundError);
  });

  it('cancels nothing automatically', () => spec.given([]).when({ type: 'CancelAutomatically', reason: 'consent_withdrawn' }).thenNothing());
});

describe('When open', () => {
  it('refuses to start it again', () => spec.given([started]).when(start).thenThrows(AssessmentAlreadyStarted, 'assessment_already_started'));

  it('records an evaluation by a team member, with encrypted notes', () =>
    spec
      .given([started])
      .when(evaluate('housing', 3, { notes: enc('notes'), evaluatedBy: 'eo-1' }))
      .then([{ type: 'DomainEvaluated', data: { domain: 'housing', needLevel: 3, notes: enc('notes'), evaluatedBy: 'eo-1' } }]));

  it('lets a domain be evaluated again: the latest level wins', () => {
    const history = [started, evaluated('housing', 1), evaluated('housing', 4)];
    spec.given(history).when(evaluate('housing', 2)).then([evaluated('housing', 2)]);
    expect(spec.given(history).state.levels).toEqual({ housing: 4 });
  });

  it('refuses an evaluation by someone outside the team (403)', () => {
    const err = spec.given([started]).when(evaluate('housing', 2, { evaluatedBy: 'ed-9' })).thenThrows(NotATeamMember, 'not_a_team_member');
    expect((err as unknown as { status: number }).status).toBe(403);
  });

  it('refuses an evaluation once the assessment consent is withdrawn or the data erased', () => {
    spec.given([started]).when(evaluate('housing', 2, { person: { ...consenting, assessmentConsent: false } })).thenThrows(AssessmentConsentMissing);
    spec.given([started]).when(evaluate('housing', 2, { person: { known: true, erased: true, assessmentConsent: false } })).thenThrows(PersonDataErased);
  });

  it('completes with the need profile of all seven domains, derived priorities and the goals', () =>
    spec.given([started, ...allEvaluated]).when(complete(planGoals)).then([completed]));

  it('completes from the latest level of a re-evaluated domain', () =>
    spec
      .given([started, ...allEvaluated, evaluated('housing', 1)])
      .when(complete([goal('employment')]))
      .then([
        {
          type: 'AssessmentCompleted',
          data: { needProfile: { ...levels, housing: 1 }, priorityDomains: ['employment'], goals: [goal('employment')] },
        },
      ]));

  it('completes with no goals when no domain is a priority', () => {
    const low = LIFE_DOMAINS.map((d) => evaluated(d, 1));
    const needProfile = Object.fromEntries(LIFE_DOMAINS.map((d) => [d, 1])) as Record<LifeDomain, number>;
    spec.given([started, ...low]).when(complete([])).then([{ type: 'AssessmentCompleted', data: { needProfile, priorityDomains: [], goals: [] } }]);
  });

  it('refuses completion before all seven domains are evaluated, naming the missing ones', () => {
    const err = spec
      .given([started, evaluated('economic', 1), evaluated('housing', 3)])
      .when(complete(planGoals))
      .thenThrows(DomainsMissing, 'domains_missing');
    expect(err.details).toEqual({ missingDomains: ['employment', 'education', 'social_network', 'health_care', 'training'] });
  });

  it('refuses completion when a priority domain has no goal, naming it', () => {
    const err = spec
      .given([started, ...allEvaluated])
      .when(complete([goal('employment'), goal('economic', '2027-01-01', 2)]))
      .thenThrows(GoalMissingForPriorityDomain, 'goal_missing_for_priority_domain');
    expect(err.details).toEqual({ domains: ['housing'] });
  });

  it('refuses a goal for a domain without a need (level 0)', () =>
    spec.given([started, ...allEvaluated]).when(complete([...planGoals, goal('education', '2027-09-01', 3)])).thenThrows(GoalWithoutNeed, 'goal_for_domain_without_need'));

  it('refuses a goal whose target date is not after today', () => {
    spec
      .given([started, ...allEvaluated])
      .when(complete([goal('employment', '2026-11-26', 1), goal('housing', '2027-03-31', 2)]))
      .thenThrows(GoalTargetDateNotInFuture, 'goal_target_date_not_in_future');
    spec.given([started, ...allEvaluated]).when(complete([goal('employment', '2025-01-01', 1), goal('housing')])).thenThrows(GoalTargetDateNotInFuture);
  });

  it('refuses completion by someone outside the team', () =>
    spec.given([started, ...allEvaluated]).when(complete(planGoals, { completedBy: 'ed-9' })).thenThrows(NotATeamMember, 'not_a_team_member'));

  it('refuses completion once the assessment consent is withdrawn', () =>
    spec
      .given([started, ...allEvaluated])
      .when(complete(planGoals, { person: { ...consenting, assessmentConsent: false } }))
      .thenThrows(AssessmentConsentMissing, 'assessment_consent_missing'));

  it('is cancelled by a team member or an admin', () => {
    spec.given([started]).when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'sw-1', role: 'team' } }).then([cancelled]);
    spec.given([started]).when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'admin-1', role: 'admin' } }).then([cancelled]);
  });

  it('refuses a cancellation by a team caller outside the team', () =>
    spec
      .given([started])
      .when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'ed-9', role: 'team' } })
      .thenThrows(NotATeamMember, 'not_a_team_member'));

  it('is cancelled automatically when the consent is withdrawn or the data erased', () => {
    spec.given([started]).when({ type: 'CancelAutomatically', reason: 'consent_withdrawn' }).then([{ type: 'AssessmentCancelled', data: { reason: 'consent_withdrawn' } }]);
    spec
      .given([started, evaluated('housing', 2)])
      .when({ type: 'CancelAutomatically', reason: 'personal_data_erased' })
      .then([{ type: 'AssessmentCancelled', data: { reason: 'personal_data_erased' } }]);
  });

  it('is cancelled when the consent it was started under is withdrawn', () =>
    spec
      .given([startedUnderConsent])
      .when({ type: 'CancelAutomatically', reason: 'consent_withdrawn', endedConsent: consentGiven })
      .then([{ type: 'AssessmentCancelled', data: { reason: 'consent_withdrawn' } }]));

  it('is not cancelled by the withdrawal of an earlier consent, delivered late or again', () =>
    spec
      .given([startedUnderConsent])
      .when({ type: 'CancelAutomatically', reason: 'consent_withdrawn', endedConsent: '88888888-8888-4888-8888-888888888888' })
      .thenNothing());
});

describe('When completed', () => {
  const history = [started, ...allEvaluated, completed];

  it('is completed', () => expect(spec.given(history).state.status).toBe('completed'));

  it('refuses further evaluation and cancellation (409); a repeated completion records nothing', () => {
    spec.given(history).when(evaluate('housing', 1)).thenThrows(AssessmentNotOpen, 'assessment_not_open');
    spec.given(history).when(complete(planGoals)).thenNothing();
    spec.given(history).when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'sw-1', role: 'team' } }).thenThrows(AssessmentNotOpen);
    spec.given(history).when(start).thenThrows(AssessmentAlreadyStarted);
  });

  it('still refuses outsiders first', () => spec.given(history).when(evaluate('housing', 1, { evaluatedBy: 'ed-9' })).thenThrows(NotATeamMember));

  it('is left as it is by the automatic cancellation', () =>
    spec.given(history).when({ type: 'CancelAutomatically', reason: 'consent_withdrawn' }).thenNothing());
});

describe('When cancelled', () => {
  const history = [started, evaluated('housing', 2), cancelled];

  it('is cancelled', () => expect(spec.given(history).state.status).toBe('cancelled'));

  it('refuses further evaluation and completion (409); a repeated cancellation records nothing', () => {
    spec.given(history).when(evaluate('housing', 1)).thenThrows(AssessmentNotOpen, 'assessment_not_open');
    spec.given(history).when(complete(planGoals)).thenThrows(AssessmentNotOpen);
    spec.given(history).when({ type: 'CancelAssessment', reason: 'team_decision', cancelledBy: { id: 'admin-1', role: 'admin' } }).thenNothing();
    spec.given(history).when(start).thenThrows(AssessmentAlreadyStarted);
  });

  it('is cancelled only once, even when the consent is withdrawn again', () =>
    spec.given(history).when({ type: 'CancelAutomatically', reason: 'personal_data_erased' }).thenNothing());
});
