import { describe, it } from 'vitest';
import { ConflictError, DoneOtherwise, type Encrypted } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { placesDecider, type PlacesEvent } from '../src/domain/places.js';
import { NotYourReferral, TransitionRefused, referralDecider, type ReferralEvent } from '../src/domain/referral.js';

// Waitlist and re-referral (issue 14, part 6): the referral's transitions and
// the service's line on its places stream, given/when/then.

const spec = deciderSpec(referralDecider);
const places = deciderSpec(placesDecider);
const reason: Encrypted = { alg: 'A256GCM', kid: 'p', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };
const referralId = '33333333-3333-4333-8333-333333333333';
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => `${x.repeat(8)}-aaaa-4aaa-8aaa-aaaaaaaaaaaa`) as [string, string, string, string];
const newId = '66666666-6666-4666-8666-666666666666';

const referred: ReferralEvent = {
  type: 'ReferredToPartner',
  data: {
    referralId,
    personId: '11111111-1111-4111-8111-111111111111',
    assessmentId: '22222222-2222-4222-8222-222222222222',
    partnerId: 'caritas',
    serviceId: 'housing-desk',
    domain: 'housing',
    reason,
    priority: 'urgent',
    respondBy: '2026-12-01T10:00:00.000Z',
    referredBy: 'sw-1',
    consentEventId: '44444444-4444-4444-8444-444444444444',
  },
};
const waitlisted: ReferralEvent = { type: 'ReferralWaitlisted', data: { expectedDate: '2027-02-01' } };
const waitlist = { type: 'Waitlist', partnerId: 'caritas', expectedDate: '2027-02-01' } as const;
const accepted: ReferralEvent = { type: 'ReferralAccepted', data: {} };
const declined: ReferralEvent = { type: 'ReferralDeclined', data: { reason: 'no_capacity' } };
const replace = { type: 'Replace', referralId: newId, partnerId: 'centro-impiego', serviceId: 'job-coaching' } as const;
const replaced: ReferralEvent = { type: 'ReferralReplaced', data: { replacedBy: newId, partnerId: 'centro-impiego', serviceId: 'job-coaching' } };

describe('Referral: waitlisting', () => {
  it('the addressed partner puts a requested referral on hold with the date it expects a place', () => spec.given([referred]).when(waitlist).then([waitlisted]));
  it('another partner cannot', () => spec.given([referred]).when({ ...waitlist, partnerId: 'other' }).thenThrows(NotYourReferral));
  it('an accepted, started or closed referral is not waitlisted', () => {
    spec.given([referred, accepted]).when(waitlist).thenThrows(TransitionRefused, 'transition_refused');
    spec.given([referred, declined]).when(waitlist).thenThrows(TransitionRefused);
    spec.given([referred, { type: 'ReferralCancelled', data: { reason: 'team_decision' } }]).when(waitlist).thenThrows(TransitionRefused);
  });
  it('the same waitlisting again records nothing; with another date it was done otherwise (409)', () => {
    spec.given([referred, waitlisted]).when(waitlist).thenNothing();
    spec.given([referred, waitlisted]).when({ ...waitlist, expectedDate: '2027-03-01' }).thenThrows(DoneOtherwise, 'done_otherwise');
  });
  it('is not marked overdue: waitlisting answered it', () =>
    spec.given([referred, waitlisted]).when({ type: 'MarkOverdue', now: new Date('2027-01-01T00:00:00.000Z') }).thenNothing());
});

describe('Referral: when on hold (waitlisted)', () => {
  it('the partner accepts it when a place frees up', () => spec.given([referred, waitlisted]).when({ type: 'Accept', partnerId: 'caritas' }).then([accepted]));
  it('the partner declines it', () =>
    spec.given([referred, waitlisted]).when({ type: 'Decline', partnerId: 'caritas', reason: 'no_capacity' }).then([declined]));
  it('the team cancels it', () =>
    spec.given([referred, waitlisted]).when({ type: 'CancelReferral', reason: 'person_request', automatic: false }).then([{ type: 'ReferralCancelled', data: { reason: 'person_request' } }]));
  it('an automatic cancellation (consent withdrawn) cancels it too: it is open', () =>
    spec.given([referred, waitlisted]).when({ type: 'CancelReferral', reason: 'consent_withdrawn', automatic: true }).then([{ type: 'ReferralCancelled', data: { reason: 'consent_withdrawn' } }]));
  it('cannot start before acceptance', () => spec.given([referred, waitlisted]).when({ type: 'StartService', partnerId: 'caritas' }).thenThrows(TransitionRefused));
  it('is told of a freed place; a referral no longer waiting is told nothing', () => {
    spec.given([referred, waitlisted]).when({ type: 'TellPlaceAvailable', cause: 'place_released' }).then([{ type: 'ReferralPlaceAvailable', data: { cause: 'place_released' } }]);
    spec.given([referred]).when({ type: 'TellPlaceAvailable', cause: 'place_released' }).thenNothing();
    spec.given([referred, waitlisted, accepted]).when({ type: 'TellPlaceAvailable', cause: 'capacity_raised' }).thenNothing();
  });
});

describe('Referral: re-referral', () => {
  it('a declined referral records the referral that replaces it', () => spec.given([referred, declined]).when(replace).then([replaced]));
  it('the same re-referral again records nothing; another one is refused (409 done_otherwise)', () => {
    spec.given([referred, declined, replaced]).when({ ...replace, referralId: '77777777-7777-4777-8777-777777777777' }).thenNothing();
    spec.given([referred, declined, replaced]).when({ ...replace, serviceId: 'other-service' }).thenThrows(DoneOtherwise, 'done_otherwise');
  });
  it('a referral that was not declined is not re-referred (409)', () => {
    spec.given([referred]).when(replace).thenThrows(ConflictError, 'referral_not_declined');
    spec.given([referred, waitlisted]).when(replace).thenThrows(ConflictError, 'referral_not_declined');
    spec.given([referred, accepted]).when(replace).thenThrows(ConflictError, 'referral_not_declined');
    spec.given([referred, { type: 'ReferralCancelled', data: { reason: 'team_decision' } }]).when(replace).thenThrows(ConflictError, 'referral_not_declined');
  });
});

// ── Places: the service's line ──────────────────────────────────────────────
const taken = (r: string): PlacesEvent => ({ type: 'PlaceTaken', data: { referralId: r, capacity: 1 } });
const joined = (r: string): PlacesEvent => ({ type: 'WaitlistJoined', data: { referralId: r, expectedDate: '2027-02-01' } });
const released = (r: string): PlacesEvent => ({ type: 'PlaceReleased', data: { referralId: r, status: 'completed' } });
const offered = (r: string, freedBy?: string): PlacesEvent =>
  freedBy ? { type: 'PlaceOffered', data: { referralId: r, cause: 'place_released', freedBy } } : { type: 'PlaceOffered', data: { referralId: r, cause: 'capacity_raised' } };

describe('Places: the waitlist', () => {
  it('a waitlisted referral joins the line once', () => {
    places.given([taken(a)]).when({ type: 'JoinWaitlist', referralId: b, expectedDate: '2027-02-01' }).then([joined(b)]);
    places.given([taken(a), joined(b)]).when({ type: 'JoinWaitlist', referralId: b, expectedDate: '2027-02-01' }).thenNothing();
  });
  it('a freed place is offered to the first in line, by the time it joined', () =>
    places.given([taken(a), joined(c), joined(b)]).when({ type: 'ReleasePlace', referralId: a, status: 'completed' }).then([released(a), offered(c, a)]));
  it('the next freed place goes to the next in line, not again to the first', () =>
    places.given([taken(a), taken(d), joined(c), joined(b), released(a), offered(c, a)]).when({ type: 'ReleasePlace', referralId: d, status: 'cancelled' }).then([
      { type: 'PlaceReleased', data: { referralId: d, status: 'cancelled' } },
      offered(b, d),
    ]));
  it('a place freed again (a redelivered completion) offers nothing more', () =>
    places.given([taken(a), joined(c), released(a), offered(c, a)]).when({ type: 'ReleasePlace', referralId: a, status: 'completed' }).thenNothing());
  it('a freed place with nobody in line offers nothing', () =>
    places.given([taken(a)]).when({ type: 'ReleasePlace', referralId: a, status: 'completed' }).then([released(a)]));
  it('a referral that took a place, was declined or cancelled leaves the line and is not offered one', () => {
    places.given([taken(a), joined(c), joined(b), { type: 'WaitlistLeft', data: { referralId: c, status: 'rejected' } }]).when({ type: 'ReleasePlace', referralId: a, status: 'completed' }).then([released(a), offered(b, a)]);
    places.given([joined(c), taken(c), taken(a)]).when({ type: 'ReleasePlace', referralId: a, status: 'completed' }).then([released(a)]);
    places.given([joined(c)]).when({ type: 'LeaveWaitlist', referralId: c, status: 'cancelled' }).then([{ type: 'WaitlistLeft', data: { referralId: c, status: 'cancelled' } }]);
    places.given([]).when({ type: 'LeaveWaitlist', referralId: c, status: 'cancelled' }).thenNothing();
  });
  it('raising the capacity offers each newly free place to the next in line', () => {
    places.given([taken(a), joined(b), joined(c), joined(d)]).when({ type: 'CapacityChanged', previous: 1, capacity: 3 }).then([offered(b), offered(c)]);
    // from 0 free to 1 free: one offer, although capacity rose by 2 (it was overbooked by one)
    places.given([taken(a), taken(d), joined(b), joined(c)]).when({ type: 'CapacityChanged', previous: 1, capacity: 3 }).then([offered(b)]);
    places.given([taken(a), joined(b)]).when({ type: 'CapacityChanged', previous: 2, capacity: 1 }).thenNothing();
    places.given([taken(a), joined(b)]).when({ type: 'CapacityChanged', previous: 1, capacity: 2 }).then([offered(b)]);
  });
});
