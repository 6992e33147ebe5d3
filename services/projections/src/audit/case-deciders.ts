// The deciders whose `evolve` the as-of replay folds: a case as of an instant is
// exactly the state the services themselves would have decided on then.
export { personDecider, type PersonEvent, type PersonState } from '@onestop/intake';
export { assessmentDecider, type AssessmentEvent, type AssessmentState } from '@onestop/assessment';
export { referralDecider, type ReferralEvent, type ReferralState } from '@onestop/referral';
