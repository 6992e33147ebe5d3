import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@onestop/testkit';
import { AssessmentAlreadyOpen, ReferralAlreadyOpen, caseDecider, type CaseEvent } from '../src/index.js';

const spec = deciderSpec(caseDecider);
const a1 = '11111111-1111-4111-8111-111111111111';
const a2 = '22222222-2222-4222-8222-222222222222';
const r1 = '33333333-3333-4333-8333-333333333333';
const r2 = '44444444-4444-4444-8444-444444444444';

const assessmentOpened = (assessmentId: string): CaseEvent => ({ type: 'CaseAssessmentOpened', data: { assessmentId } });
const referralOpened = (referralId: string, serviceId = 'casa', partnerId = 'consorzio-coeso'): CaseEvent => ({
  type: 'CaseReferralOpened',
  data: { referralId, partnerId, serviceId },
});

describe('Case: one open assessment per person', () => {
  describe('when no assessment is open', () => {
    it('opens one', () => spec.given([]).when({ type: 'OpenAssessment', assessmentId: a1 }).then([assessmentOpened(a1)]));
    it('closing an assessment the case never knew records its end (one from before case streams), so it never opens later', () => {
      spec
        .given([])
        .when({ type: 'CloseAssessment', assessmentId: a1, status: 'cancelled' })
        .then([{ type: 'CaseAssessmentClosed', data: { assessmentId: a1, status: 'cancelled' } }]);
      spec.given([{ type: 'CaseAssessmentClosed', data: { assessmentId: a1, status: 'cancelled' } }]).when({ type: 'OpenAssessment', assessmentId: a1 }).thenNothing();
    });
  });

  describe('when an assessment is open', () => {
    const open = [assessmentOpened(a1)];
    it('refuses a second one, naming the open one', () => {
      const e = spec.given(open).when({ type: 'OpenAssessment', assessmentId: a2 }).thenThrows(AssessmentAlreadyOpen, 'assessment_already_open');
      expect(e.details).toEqual({ openAssessmentId: a1 });
    });
    it('opening the same one again changes nothing (a retried start)', () =>
      spec.given(open).when({ type: 'OpenAssessment', assessmentId: a1 }).thenNothing());
    it('closes it when it is completed', () =>
      spec
        .given(open)
        .when({ type: 'CloseAssessment', assessmentId: a1, status: 'completed' })
        .then([{ type: 'CaseAssessmentClosed', data: { assessmentId: a1, status: 'completed' } }]));
    it('closing it twice changes nothing the second time', () =>
      spec
        .given([...open, { type: 'CaseAssessmentClosed', data: { assessmentId: a1, status: 'completed' } }])
        .when({ type: 'CloseAssessment', assessmentId: a1, status: 'completed' })
        .thenNothing());
  });

  describe('when the assessment was closed', () => {
    it('opens the next one', () =>
      spec
        .given([assessmentOpened(a1), { type: 'CaseAssessmentClosed', data: { assessmentId: a1, status: 'cancelled' } }])
        .when({ type: 'OpenAssessment', assessmentId: a2 })
        .then([assessmentOpened(a2)]));
  });
});

describe('Case: one open referral per person and service', () => {
  describe('when a referral to the service is open', () => {
    const open = [referralOpened(r1)];
    it('refuses a second referral to the same service, naming the open one', () => {
      const e = spec
        .given(open)
        .when({ type: 'OpenReferral', referralId: r2, partnerId: 'consorzio-coeso', serviceId: 'casa' })
        .thenThrows(ReferralAlreadyOpen, 'referral_already_open');
      expect(e.details).toEqual({ existingReferralId: r1 });
    });
    it('opens a referral to another service of the same partner', () =>
      spec
        .given(open)
        .when({ type: 'OpenReferral', referralId: r2, partnerId: 'consorzio-coeso', serviceId: 'lavoro' })
        .then([referralOpened(r2, 'lavoro')]));
    it('opens a referral to the same service code of another partner', () =>
      spec
        .given(open)
        .when({ type: 'OpenReferral', referralId: r2, partnerId: 'caritas', serviceId: 'casa' })
        .then([referralOpened(r2, 'casa', 'caritas')]));
    it('opening the same referral again changes nothing', () =>
      spec.given(open).when({ type: 'OpenReferral', referralId: r1, partnerId: 'consorzio-coeso', serviceId: 'casa' }).thenNothing());
    it('closes it when it is declined', () =>
      spec
        .given(open)
        .when({ type: 'CloseReferral', referralId: r1, status: 'rejected' })
        .then([{ type: 'CaseReferralClosed', data: { referralId: r1, status: 'rejected' } }]));
  });

  describe('when the referral was closed', () => {
    const closed = [referralOpened(r1), { type: 'CaseReferralClosed', data: { referralId: r1, status: 'rejected' } } as CaseEvent];
    it('the person can be referred to the service again (a re-referral)', () =>
      spec
        .given(closed)
        .when({ type: 'OpenReferral', referralId: r2, partnerId: 'consorzio-coeso', serviceId: 'casa' })
        .then([referralOpened(r2)]));
    it('closing it again changes nothing, and it never opens again', () => {
      spec.given(closed).when({ type: 'CloseReferral', referralId: r1, status: 'cancelled' }).thenNothing();
      spec.given(closed).when({ type: 'OpenReferral', referralId: r1, partnerId: 'consorzio-coeso', serviceId: 'casa' }).thenNothing();
    });
  });
});
