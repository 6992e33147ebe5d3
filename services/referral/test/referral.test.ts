import { describe, expect, it } from 'vitest';
import { ConflictError, DoneOtherwise, NotFoundError, RuleViolation, type Encrypted } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { fold } from '@onestop/kit';
import { partnerDecider, type PartnerEvent } from '../src/domain/partner.js';
import { NoFreePlace, placesDecider, type PlacesEvent } from '../src/domain/places.js';
import {
  NotYourReferral,
  TransitionRefused,
  referralDecider,
  type Refer,
  type ReferralEvent,
  type ReferralFacts,
} from '../src/domain/referral.js';

const spec = deciderSpec(referralDecider);
const reason: Encrypted = { alg: 'A256GCM', kid: 'p', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };
const personId = '11111111-1111-4111-8111-111111111111';
const assessmentId = '22222222-2222-4222-8222-222222222222';
const referralId = '33333333-3333-4333-8333-333333333333';
const consentEventId = '44444444-4444-4444-8444-444444444444';

const caritas = fold(partnerDecider, [
  {
    type: 'PartnerRegistered',
    data: {
      partnerId: 'caritas',
      name: 'Caritas',
      sector: 'third_sector',
      services: [
        { serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 2 },
        { serviceId: 'legal', name: 'Legal advice', domain: 'economic', capacity: 1 },
      ],
    },
  },
  { type: 'PartnerJoinedAgreement', data: { agreementId: 'accordo-pistoia', responseDays: 5 } },
] satisfies PartnerEvent[]);

const facts: ReferralFacts = {
  consent: { active: true, eventId: consentEventId },
  personErased: false,
  assessment: { personId, status: 'completed', needProfile: { housing: 3, economic: 0, employment: 2 } },
  partner: caritas,
  agreementId: 'accordo-pistoia',
  occupied: 0,
};
const at = new Date('2026-11-26T10:00:00.000Z');
const refer: Refer = {
  type: 'Refer',
  referralId,
  personId,
  assessmentId,
  partnerId: 'caritas',
  serviceId: 'housing-desk',
  reason,
  priority: 'urgent',
  referredBy: 'sw-1',
  at,
  facts,
};
const referred: ReferralEvent = {
  type: 'ReferredToPartner',
  data: {
    referralId,
    personId,
    assessmentId,
    partnerId: 'caritas',
    serviceId: 'housing-desk',
    domain: 'housing',
    reason,
    priority: 'urgent',
    respondBy: '2026-12-01T10:00:00.000Z',
    referredBy: 'sw-1',
    consentEventId,
  },
};
const accepted: ReferralEvent = { type: 'ReferralAccepted', data: {} };
const started: ReferralEvent = { type: 'ServiceStarted', data: {} };
const completed: ReferralEvent = { type: 'ServiceCompleted', data: { outcome: 'achieved' } };
const declined: ReferralEvent = { type: 'ReferralDeclined', data: { reason: 'not_eligible' } };
const cancelled: ReferralEvent = { type: 'ReferralCancelled', data: { reason: 'team_decision' } };
const accept = { type: 'Accept', partnerId: 'caritas' } as const;

describe('Referral: when not yet referred', () => {
  it('refers, taking respondBy from the partner’s agreement and recording the consent that allows it', () =>
    spec.given([]).when(refer).then([referred]));

  const refused: Array<[string, Partial<ReferralFacts> | Partial<Refer>, string]> = [
    ['no referral_sharing consent', { consent: { active: false, eventId: null } }, 'referral_consent_missing'],
    ['erased personal data', { personErased: true }, 'personal_data_erased'],
    ['an assessment not completed', { assessment: { personId, status: 'open', needProfile: null } }, 'assessment_not_completed'],
    ['no need in the service domain', { assessment: { personId, status: 'completed', needProfile: { housing: 0 } } }, 'no_need_in_domain'],
    ['a partner outside the agreement', { agreementId: 'another-agreement' }, 'partner_not_in_agreement'],
    ['no free capacity', { occupied: 2 }, 'no_free_capacity'],
  ];
  it.each(refused)('refuses a referral with %s', (_label, change, code) => {
    spec.given([]).when({ ...refer, facts: { ...facts, ...change } }).thenThrows(RuleViolation, code);
  });

  it('refuses a service the partner does not offer', () =>
    spec.given([]).when({ ...refer, serviceId: 'cooking' }).thenThrows(RuleViolation, 'service_not_offered'));

  it('refuses an unknown person, an unknown partner and an assessment of someone else', () => {
    spec.given([]).when({ ...refer, facts: { ...facts, consent: undefined } }).thenThrows(NotFoundError);
    spec.given([]).when({ ...refer, facts: { ...facts, partner: fold(partnerDecider, []) } }).thenThrows(NotFoundError);
    spec
      .given([])
      .when({ ...refer, facts: { ...facts, assessment: { ...facts.assessment!, personId: '55555555-5555-4555-8555-555555555555' } } })
      .thenThrows(NotFoundError);
  });

  it('refuses answers to a referral that does not exist', () =>
    spec.given([]).when(accept).thenThrows(NotFoundError));
});

describe('Referral: when requested', () => {
  it('the addressed partner accepts', () => spec.given([referred]).when({ ...accept, expectedStart: '2026-12-10' }).then([{ type: 'ReferralAccepted', data: { expectedStart: '2026-12-10' } }]));
  it('the addressed partner declines with a reason', () =>
    spec.given([referred]).when({ type: 'Decline', partnerId: 'caritas', reason: 'not_eligible' }).then([declined]));
  it('another partner can do nothing', () => {
    spec.given([referred]).when({ ...accept, partnerId: 'other' }).thenThrows(NotYourReferral);
    spec.given([referred]).when({ type: 'Decline', partnerId: 'other', reason: 'other' }).thenThrows(NotYourReferral, 'not_found');
  });
  it('cannot start or complete before acceptance', () => {
    spec.given([referred]).when({ type: 'StartService', partnerId: 'caritas' }).thenThrows(TransitionRefused);
    spec.given([referred]).when({ type: 'CompleteService', partnerId: 'caritas', outcome: 'achieved' }).thenThrows(TransitionRefused);
  });
  it('the team cancels it', () => spec.given([referred]).when({ type: 'CancelReferral', reason: 'team_decision', automatic: false }).then([cancelled]));
  it('is marked overdue exactly once when respondBy passes without an answer', () => {
    const late = new Date('2026-12-01T10:00:01.000Z');
    spec.given([referred]).when({ type: 'MarkOverdue', now: new Date('2026-12-01T10:00:00.000Z') }).thenNothing();
    spec.given([referred]).when({ type: 'MarkOverdue', now: late }).then([{ type: 'ReferralOverdue', data: { dueAt: '2026-12-01T10:00:00.000Z' } }]);
    spec.given([referred, { type: 'ReferralOverdue', data: { dueAt: '2026-12-01T10:00:00.000Z' } }]).when({ type: 'MarkOverdue', now: late }).thenNothing();
  });
  it('an overdue referral can still be answered', () =>
    spec.given([referred, { type: 'ReferralOverdue', data: { dueAt: '2026-12-01T10:00:00.000Z' } }]).when(accept).then([accepted]));
  it('refuses a second Refer on the same stream', () => spec.given([referred]).when(refer).thenThrows(ConflictError, 'referral_exists'));
});

describe('Referral: when accepted', () => {
  it('starts', () => spec.given([referred, accepted]).when({ type: 'StartService', partnerId: 'caritas' }).then([started]));
  it('accepted again: a repeat of a finished action records nothing', () => spec.given([referred, accepted]).when(accept).thenNothing());
  it('cannot be declined or completed', () => {
    spec.given([referred, accepted]).when({ type: 'Decline', partnerId: 'caritas', reason: 'other' }).thenThrows(TransitionRefused);
    spec.given([referred, accepted]).when({ type: 'CompleteService', partnerId: 'caritas', outcome: 'achieved' }).thenThrows(TransitionRefused);
  });
  it('is no longer marked overdue', () => spec.given([referred, accepted]).when({ type: 'MarkOverdue', now: new Date('2027-01-01') }).thenNothing());
  it('is cancelled automatically when the consent it was made under is withdrawn', () =>
    spec
      .given([referred, accepted])
      .when({ type: 'CancelReferral', reason: 'consent_withdrawn', automatic: true, endedConsent: consentEventId })
      .then([{ type: 'ReferralCancelled', data: { reason: 'consent_withdrawn' } }]));
  it('is not cancelled by the withdrawal of an earlier consent (a late or repeated delivery)', () =>
    spec
      .given([referred, accepted])
      .when({ type: 'CancelReferral', reason: 'consent_withdrawn', automatic: true, endedConsent: '66666666-6666-4666-8666-666666666666' })
      .thenNothing());
});

describe('Referral: when in progress', () => {
  it('completes with an outcome', () => spec.given([referred, accepted, started]).when({ type: 'CompleteService', partnerId: 'caritas', outcome: 'achieved' }).then([completed]));
  it('only the addressed partner completes', () =>
    spec.given([referred, accepted, started]).when({ type: 'CompleteService', partnerId: 'other', outcome: 'achieved' }).thenThrows(NotYourReferral));
  it('started again: records nothing', () => spec.given([referred, accepted, started]).when({ type: 'StartService', partnerId: 'caritas' }).thenNothing());
  it('accepted again: records nothing', () => spec.given([referred, accepted, started]).when(accept).thenNothing());
  it('cannot be declined', () => spec.given([referred, accepted, started]).when({ type: 'Decline', partnerId: 'caritas', reason: 'other' }).thenThrows(TransitionRefused));
});

describe('Referral: when closed (completed, declined or cancelled)', () => {
  const decline = { type: 'Decline', partnerId: 'caritas', reason: 'other' } as const;
  const start = { type: 'StartService', partnerId: 'caritas' } as const;
  const complete = { type: 'CompleteService', partnerId: 'caritas', outcome: 'achieved' } as const;
  const cancel = { type: 'CancelReferral', reason: 'team_decision', automatic: false } as const;
  // what each closed referral did is a repeat (nothing recorded); anything else is refused
  for (const [label, history, repeats, refused] of [
    ['completed', [referred, accepted, started, completed], [accept, start, complete], [decline, cancel]],
    ['declined', [referred, declined], [{ ...decline, reason: 'not_eligible' }], [accept, start, complete, cancel]],
    ['cancelled', [referred, cancelled], [cancel], [accept, decline, start, complete]],
  ] as const) {
    const a = /^[aeiou]/.test(label) ? 'an' : 'a';
    it(`${a} ${label} referral records nothing for a repeat of what it did: ${repeats.map((c) => c.type).join(', ')}`, () => {
      for (const c of repeats) spec.given(history).when(c).thenNothing();
    });
    it(`${a} ${label} referral refuses every other transition: ${refused.map((c) => c.type).join(', ')}`, () => {
      for (const c of refused) spec.given(history).when(c).thenThrows(TransitionRefused);
    });
    it(`an automatic cancellation of ${a} ${label} referral changes nothing`, () =>
      spec.given(history).when({ type: 'CancelReferral', reason: 'consent_withdrawn', automatic: true }).thenNothing());
  }
  it('a repeat with other data is refused (409 done_otherwise): the first answer stands', () => {
    spec.given([referred, accepted, started, completed]).when({ ...complete, outcome: 'dropped_out' }).thenThrows(DoneOtherwise, 'done_otherwise');
    spec.given([referred, declined]).when(decline).thenThrows(DoneOtherwise);
    spec.given([referred, cancelled]).when({ ...cancel, reason: 'person_request' }).thenThrows(DoneOtherwise);
    spec.given([referred, { type: 'ReferralAccepted', data: { expectedStart: '2027-01-10' } }]).when({ ...accept, expectedStart: '2027-02-01' }).thenThrows(DoneOtherwise);
    // an acceptance repeated without a date, or with the same one, is a plain repeat
    spec.given([referred, { type: 'ReferralAccepted', data: { expectedStart: '2027-01-10' } }]).when(accept).thenNothing();
    spec.given([referred, { type: 'ReferralAccepted', data: { expectedStart: '2027-01-10' } }]).when({ ...accept, expectedStart: '2027-01-10' }).thenNothing();
  });
  it('a repeat by another partner is still refused as not theirs', () =>
    spec.given([referred, accepted]).when({ ...accept, partnerId: 'other' }).thenThrows(NotYourReferral));
});

// ── Places: stream places-<partnerId>.<serviceId> ──────────────────────────
const places = deciderSpec(placesDecider);
const other = '77777777-7777-4777-8777-777777777777';
const taken = (r: string, capacity = 2): PlacesEvent => ({ type: 'PlaceTaken', data: { referralId: r, capacity } });

describe('Places: when places are free', () => {
  it('an acceptance takes one, recording the capacity it was taken under', () =>
    places.given([]).when({ type: 'TakePlace', referralId, capacity: 2 }).then([taken(referralId)]));
  it('taking a place the referral holds already changes nothing (a retried acceptance)', () =>
    places.given([taken(referralId)]).when({ type: 'TakePlace', referralId, capacity: 2 }).thenNothing());
  it('freeing the place of a referral these places never recorded (from before places streams) records it, so it is never taken later', () => {
    places.given([]).when({ type: 'ReleasePlace', referralId, status: 'cancelled' }).then([{ type: 'PlaceReleased', data: { referralId, status: 'cancelled' } }]);
    places.given([{ type: 'PlaceReleased', data: { referralId, status: 'cancelled' } }]).when({ type: 'TakePlace', referralId, capacity: 2 }).thenNothing();
  });
  it('freeing a place twice changes nothing the second time', () =>
    places
      .given([taken(referralId), { type: 'PlaceReleased', data: { referralId, status: 'completed' } }])
      .when({ type: 'ReleasePlace', referralId, status: 'completed' })
      .thenNothing());
});

describe('Places: when every place is taken', () => {
  const full = [taken(referralId), taken(other)];
  it('refuses another acceptance', () => {
    const e = places.given(full).when({ type: 'TakePlace', referralId: '88888888-8888-4888-8888-888888888888', capacity: 2 }).thenThrows(NoFreePlace, 'no_free_capacity');
    expect(e.details).toEqual({ capacity: 2, occupied: 2 });
  });
  it('a completed referral frees its place, and the next acceptance takes it', () => {
    places.given(full).when({ type: 'ReleasePlace', referralId, status: 'completed' }).then([{ type: 'PlaceReleased', data: { referralId, status: 'completed' } }]);
    places
      .given([...full, { type: 'PlaceReleased', data: { referralId, status: 'completed' } }])
      .when({ type: 'TakePlace', referralId: '88888888-8888-4888-8888-888888888888', capacity: 2 })
      .then([taken('88888888-8888-4888-8888-888888888888')]);
  });
  it('a lowered capacity frees nothing and refuses new acceptances', () =>
    places.given(full).when({ type: 'TakePlace', referralId: '88888888-8888-4888-8888-888888888888', capacity: 1 }).thenThrows(NoFreePlace));
});
