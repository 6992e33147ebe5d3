import type { EventData, EventType } from '../src/index.js';

const enc = { alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct: 'Y2lwaGVy', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' } as const;
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** One valid payload of every catalog event type. */
export const examples: { [T in EventType]: EventData<T> } = {
  PersonRegistered: {
    personId: uuid(1),
    accessPoint: 'pistoia-centro',
    registeredBy: 'op-1',
    pii: enc,
    municipality: 'Pistoia',
    birthYear: 1980,
  },
  ConsentGiven: { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' },
  ConsentWithdrawn: { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1' },
  ContactDetailsUpdated: { pii: enc, updatedBy: 'op-1' },
  PersonalDataErased: { requestedBy: 'admin-1', reason: 'data_subject_request' },
  AssessmentStarted: {
    assessmentId: uuid(2),
    personId: uuid(1),
    team: [
      { memberId: 'sw-1', role: 'social_worker' },
      { memberId: 'eo-1', role: 'employment_operator' },
    ],
  },
  DomainEvaluated: { domain: 'housing', needLevel: 3, notes: enc, evaluatedBy: 'sw-1' },
  AssessmentCompleted: {
    needProfile: { economic: 2, employment: 3, education: 0, housing: 3, social_network: 1, health_care: 0, training: 1 },
    priorityDomains: ['employment', 'housing'],
    goals: [
      { goalId: uuid(3), domain: 'employment', description: enc, targetDate: '2027-06-30' },
      { goalId: uuid(4), domain: 'housing', description: enc, targetDate: '2027-03-31' },
    ],
  },
  AssessmentCancelled: { reason: 'person_moved_away' },
  PartnerRegistered: {
    partnerId: 'caritas',
    name: 'Caritas Pistoia',
    sector: 'third_sector',
    services: [{ serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 10 }],
  },
  PartnerJoinedAgreement: { agreementId: 'accordo-pistoia', responseDays: 5 },
  PartnerLeftAgreement: { agreementId: 'accordo-pistoia' },
  ServiceCapacityChanged: { serviceId: 'housing-desk', capacity: 12 },
  ReferredToPartner: {
    referralId: uuid(5),
    personId: uuid(1),
    assessmentId: uuid(2),
    partnerId: 'caritas',
    serviceId: 'housing-desk',
    domain: 'housing',
    reason: enc,
    priority: 'routine',
    respondBy: '2026-12-01T10:00:00.000Z',
    referredBy: 'sw-1',
    consentEventId: uuid(6),
  },
  ReferralAccepted: { expectedStart: '2026-12-10' },
  ReferralDeclined: { reason: 'no_capacity' },
  ServiceStarted: {},
  ServiceCompleted: { outcome: 'achieved' },
  ReferralCancelled: { reason: 'consent_withdrawn' },
  ReferralOverdue: { dueAt: '2026-12-01T10:00:00.000Z' },
  CaseHistoryRead: { personId: uuid(1), purpose: 'audit', readBy: 'aud-1' },
  FiscalCodeReserved: { personId: uuid(1) },
  FiscalCodeReleased: { personId: uuid(1), reason: 'personal_data_erased' },
  CaseAssessmentOpened: { assessmentId: uuid(2) },
  CaseAssessmentClosed: { assessmentId: uuid(2), status: 'completed' },
  CaseReferralOpened: { referralId: uuid(3), partnerId: 'consorzio-coeso', serviceId: 'casa' },
  CaseReferralClosed: { referralId: uuid(3), status: 'completed' },
  PlaceTaken: { referralId: uuid(3), capacity: 10 },
  PlaceReleased: { referralId: uuid(3), status: 'completed' },
  ReferralWaitlisted: { expectedDate: '2027-02-01' },
  ReferralPlaceAvailable: { cause: 'place_released' },
  ReferralReplaced: { replacedBy: uuid(4), partnerId: 'centro-impiego', serviceId: 'job-coaching' },
  WaitlistJoined: { referralId: uuid(3), expectedDate: '2027-02-01' },
  WaitlistLeft: { referralId: uuid(3), status: 'rejected' },
  PlaceOffered: { referralId: uuid(3), cause: 'place_released', freedBy: uuid(4) },
  SubscriptionRequested: {
    subscriptionId: uuid(7),
    partnerId: 'consorzio-coeso',
    topic: 'https://onestop.example/fhir/SubscriptionTopic/partner-task-changed',
    endpoint: 'https://coeso.example.org/fhir/notify',
    heartbeatSeconds: 60,
    startPosition: 42,
    requestedBy: 'coeso-system',
  },
  SubscriptionActivated: { eventNumber: 0 },
  SubscriptionErrored: { eventNumber: 3, error: 'HTTP 503' },
  SubscriptionEnded: { endedBy: 'coeso-system' },
  TokenRevoked: { jti: 'b7f3c1d2-tok', until: '2026-03-01T11:00:00Z', reason: 'device_lost', revokedBy: 'admin-1' },
  SubjectTokensRevoked: { sub: 'sw-1', issuedBefore: '2026-03-01T10:00:00Z', until: '2026-03-01T11:00:00Z', reason: 'staff_left', revokedBy: 'admin-1' },
};

/** A complete raw envelope around an example payload. */
export function envelopeOf<T extends EventType>(type: T, data: unknown = examples[type]) {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    type,
    schemaVersion: 1,
    source: '/onestop/intake',
    subject: 'person-00000000-0000-4000-8000-000000000001',
    time: '2026-11-26T10:00:00.000Z',
    partitionKey: '00000000-0000-4000-8000-000000000001',
    correlationId: 'req-1',
    causationId: null,
    actor: { id: 'op-1', role: 'operator' },
    data,
  };
}
