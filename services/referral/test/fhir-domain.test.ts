import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, RuleViolation, TASK_STATUS_AFTER } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { subscriptionDecider, type SubscriptionEvent } from '../src/domain/subscription.js';
import { taskResource, type TaskFacts } from '../src/fhir/resources.js';
import { answerOf, FhirRefusal } from '../src/fhir/task-change.js';

// The pure parts of the FHIR facade: the Subscription decider (given/when/then)
// and what a partner's new Task asks of the referral use case.

const spec = deciderSpec(subscriptionDecider);
const id = '77777777-7777-4777-8777-777777777777';
const requested: SubscriptionEvent = {
  type: 'SubscriptionRequested',
  data: { subscriptionId: id, partnerId: 'caritas', topic: 'https://onestop.example/fhir/SubscriptionTopic/partner-task-changed', endpoint: 'https://caritas.example/notify', heartbeatSeconds: 60, startPosition: 10, requestedBy: 'caritas-system' },
};
const activated: SubscriptionEvent = { type: 'SubscriptionActivated', data: { eventNumber: 0 } };
const errored: SubscriptionEvent = { type: 'SubscriptionErrored', data: { eventNumber: 3, error: 'HTTP 503' } };
const ended: SubscriptionEvent = { type: 'SubscriptionEnded', data: { endedBy: 'caritas-system' } };

describe('Subscription', () => {
  describe('when none exists', () => {
    it('is requested', () => spec.given([]).when({ type: 'RequestSubscription', ...requested.data }).then([requested]));
    it('cannot be ended', () => spec.given([]).when({ type: 'EndSubscription', partnerId: 'caritas', endedBy: 'x' }).thenThrows(NotFoundError));
  });
  describe('when requested', () => {
    it('is not requested twice', () => spec.given([requested]).when({ type: 'RequestSubscription', ...requested.data }).thenThrows(ConflictError));
    it('becomes active on the first delivery (the handshake)', () => spec.given([requested]).when({ type: 'RecordDelivery', eventNumber: 0 }).then([activated]));
    it('becomes error on a failure', () => spec.given([requested]).when({ type: 'RecordFailure', eventNumber: 0, error: 'ECONNREFUSED' }).then([{ type: 'SubscriptionErrored', data: { eventNumber: 0, error: 'ECONNREFUSED' } }]));
  });
  describe('when active', () => {
    it('records nothing for another delivery (replicas deliver too)', () => spec.given([requested, activated]).when({ type: 'RecordDelivery', eventNumber: 4 }).thenNothing());
    it('records the first failure', () => spec.given([requested, activated]).when({ type: 'RecordFailure', eventNumber: 3, error: 'HTTP 503' }).then([errored]));
    it('is ended by its partner', () => spec.given([requested, activated]).when({ type: 'EndSubscription', partnerId: 'caritas', endedBy: 'caritas-system' }).then([ended]));
    it('is ended by an admin', () => spec.given([requested, activated]).when({ type: 'EndSubscription', partnerId: undefined, endedBy: 'caritas-system' }).then([ended]));
    it('is not ended by another partner (who must not learn it exists)', () =>
      spec.given([requested, activated]).when({ type: 'EndSubscription', partnerId: 'centro-impiego', endedBy: 'x' }).thenThrows(NotFoundError));
  });
  describe('when in error', () => {
    it('records no second failure', () => spec.given([requested, activated, errored]).when({ type: 'RecordFailure', eventNumber: 3, error: 'HTTP 503' }).thenNothing());
    it('becomes active again on a delivery', () => spec.given([requested, activated, errored]).when({ type: 'RecordDelivery', eventNumber: 3 }).then([{ type: 'SubscriptionActivated', data: { eventNumber: 3 } }]));
  });
  describe('when ended', () => {
    it('records no delivery or failure', () => {
      spec.given([requested, activated, ended]).when({ type: 'RecordDelivery', eventNumber: 5 }).thenNothing();
      spec.given([requested, activated, ended]).when({ type: 'RecordFailure', eventNumber: 5, error: 'HTTP 500' }).thenNothing();
    });
    it('is not ended twice', () => spec.given([requested, ended]).when({ type: 'EndSubscription', partnerId: 'caritas', endedBy: 'x' }).thenThrows(RuleViolation, 'subscription_ended'));
  });
});

const facts: TaskFacts = {
  referralId: '33333333-3333-4333-8333-333333333333',
  personId: '11111111-1111-4111-8111-111111111111',
  assessmentId: '22222222-2222-4222-8222-222222222222',
  partnerId: 'caritas',
  serviceId: 'housing-desk',
  domain: 'housing',
  priority: 'urgent',
  status: 'requested',
  statusReason: null,
  outcome: null,
  consentEventId: null,
  respondBy: '2026-12-01T09:00:00.000Z',
  overdue: false,
  referredAt: '2026-11-26T09:00:00.000Z',
  updatedAt: '2026-11-26T09:00:00.000Z',
  version: 0,
  expectedDate: null,
  placeAvailableAt: null,
  replacesReferralId: null,
  replacedBy: null,
};
const task = taskResource(facts);
const refusal = (next: unknown) => {
  try {
    answerOf(task, next, facts.referralId);
  } catch (e) {
    expect(e).toBeInstanceOf(FhirRefusal);
    return e as FhirRefusal;
  }
  throw new Error('expected a refusal');
};
const REASONS = 'https://onestop.example/fhir/CodeSystem/referral-status-reason';

describe('a partner’s new Task as an answer', () => {
  it('uses the one event → Task.status table of packages/events', () => expect(taskResource({ ...facts, status: TASK_STATUS_AFTER.ServiceStarted }).status).toBe('in-progress'));
  it('accepted → accept, with the expected start from executionPeriod', () =>
    expect(answerOf(task, { ...task, status: 'accepted', executionPeriod: { start: '2026-12-03' } }, facts.referralId)).toEqual({ action: 'accept', expectedStart: '2026-12-03' }));
  it('rejected with a coded statusReason → decline, its text as the (encrypted) note', () =>
    expect(answerOf(task, { ...task, status: 'rejected', statusReason: { coding: [{ system: REASONS, code: 'not_eligible' }], text: 'fuori ambito' } }, facts.referralId)).toEqual({
      action: 'decline',
      reason: 'not_eligible',
      note: 'fuori ambito',
    }));
  it('in-progress → start', () => expect(answerOf(task, { ...task, status: 'in-progress' }, facts.referralId)).toEqual({ action: 'start' }));
  it('the same status → nothing to do', () => expect(answerOf(task, { ...task, meta: { versionId: '9' } }, facts.referralId)).toBeNull());
  it('the same status a partner sets → its answer again, for the decider to tell a repeat from other data', () => {
    const completed = taskResource({ ...facts, status: 'completed', outcome: 'achieved' });
    const output = (code: string) => [{ type: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/task-output-type', code: 'outcome' }] }, valueCodeableConcept: { coding: [{ system: 'https://onestop.example/fhir/CodeSystem/service-outcome', code }] } }];
    expect(answerOf(completed, { ...completed }, facts.referralId)).toEqual({ action: 'complete', outcome: 'achieved' });
    expect(answerOf(completed, { ...completed, output: output('dropped_out') }, facts.referralId)).toEqual({ action: 'complete', outcome: 'dropped_out' });
  });
  it('refuses a rejection whose reason is a cancellation code', () =>
    expect(refusal({ ...task, status: 'rejected', statusReason: { coding: [{ system: REASONS, code: 'consent_withdrawn' }] } }).status).toBe(422));
  it('on-hold with Task.restriction.period.start → waitlist, with that date as the expected date', () => {
    expect(answerOf(task, { ...task, status: 'on-hold', restriction: { period: { start: '2027-02-01' } } }, facts.referralId)).toEqual({ action: 'waitlist', expectedDate: '2027-02-01' });
    expect(answerOf(task, { ...task, status: 'on-hold', restriction: { period: { start: '2027-02-01T09:00:00+01:00', end: '2026-12-01T09:00:00Z' } } }, facts.referralId)).toEqual({ action: 'waitlist', expectedDate: '2027-02-01' });
  });
  it('refuses on-hold without the expected date (422) or with one that is not a date (400)', () => {
    expect(refusal({ ...task, status: 'on-hold', restriction: undefined })).toMatchObject({ status: 422, issueCode: 'business-rule', expression: ['Task.restriction.period.start'] });
    expect(refusal({ ...task, status: 'on-hold', restriction: { period: { start: 'soon' } } })).toMatchObject({ status: 400, issueCode: 'invalid' });
    expect(refusal({ ...task, status: 'on-hold', restriction: { period: { start: '2027-02-30' } } })).toMatchObject({ status: 400 });
  });
  it('an on-hold Task shows the expected date as restriction.period.start and whether a place was offered', () => {
    const held = taskResource({ ...facts, status: 'on-hold', expectedDate: '2027-02-01' });
    expect(held).toMatchObject({ status: 'on-hold', restriction: { period: { start: '2027-02-01' } }, businessStatus: { text: 'waitlisted: no free place' } });
    expect(taskResource({ ...facts, status: 'on-hold', expectedDate: '2027-02-01', placeAvailableAt: '2026-12-02T09:00:00.000Z' })).toMatchObject({ businessStatus: { text: 'waitlisted: a place of the service is free' } });
  });
  it('refuses a change of what OneStop owns', () => {
    for (const change of [{ intent: 'plan' }, { for: { reference: 'Patient/x' } }, { focus: { reference: 'ServiceRequest/x' } }, { owner: undefined }]) {
      expect(refusal({ ...task, status: 'accepted', ...change }).status).toBe(422);
    }
  });
  it('refuses statuses a partner does not set', () => {
    for (const status of ['draft', 'received', 'ready', 'failed', 'entered-in-error']) {
      expect(refusal({ ...task, status }).status, status).toBe(422);
    }
    expect(refusal({ ...task, status: 'cancelled' }).status).toBe(403);
  });
});
