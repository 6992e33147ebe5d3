// The deciders whose `evolve` the as-of replay folds: a case as of an instant is
// exactly the state the services themselves would have decided on then.
export { personDecider, type PersonEvent, type PersonState } from '@onestop/intake';
export {
  assessmentDecider,
  careDecider,
  meetingsDecider,
  planDecider,
  type AssessmentEvent,
  type AssessmentState,
  type CareEvent,
  type CareState,
  type MeetingEvent,
  type MeetingsState,
  type PlanEvent,
  type PlanState,
} from '@onestop/assessment';
export { referralDecider, type ReferralEvent, type ReferralState } from '@onestop/referral';
