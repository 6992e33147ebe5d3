import { randomUUID } from 'node:crypto';
import { createEvent, type Actor, type EventData, type EventType, type LifeDomain, type RawEnvelope } from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';

// A scripted network, appended as the services would record it, with every
// event's time under control so that the KPIs can be computed by hand.
//
// T0 = 2026-03-02T09:00Z; times below are hours from T0.
//
// Partners (−720 h): caritas (third sector: housing-desk/housing cap 5,
// food-bank/economic cap 50 → 40), centro-impiego (public: job-coaching/
// employment), asl-pistoia (public: counselling/health_care, not in the agreement).
//
// Persons: A, B, E by op-1 at pistoia-centro; C, D by op-2 at capannori.
// E is erased; D withdraws referral_sharing at +100 h.
//
// Assessments: asA (A; sw-1, eo-1), asB (B; sw-1, ed-1), asC (C; eo-1, ed-1)
// completed; asD (D; sw-1, eo-1) cancelled; asD2 (D; sw-1, ed-1) open.
//
// Referrals (respondBy = referred + 120 h):
//   r1 A→caritas/housing-desk    referred 0   accepted 24   started 72   completed 240 achieved
//   r2 A→centro/job-coaching     referred 0   declined 48 no_capacity
//   r3 B→caritas/housing-desk    referred 24  accepted 36   started 72   (in progress)
//   r4 B→caritas/food-bank       referred 24  overdue 145   declined 168 not_eligible
//   r5 C→centro/job-coaching     referred 48  accepted 54   started 72   completed 480 dropped_out
//   r6 C→caritas/food-bank       referred 48  overdue 169   (still requested)
//   r7 A→caritas/food-bank       referred 72  cancelled 96 team_decision
//   r8 C→caritas/housing-desk    referred 72  accepted 108  started 168  completed 360 partially_achieved

export const T0 = Date.parse('2026-03-02T09:00:00.000Z');
export const at = (hours: number): string => new Date(T0 + hours * 3_600_000).toISOString();

const cipher = { alg: 'A256GCM' as const, kid: 'person-key', iv: 'AAAAAAAAAAAAAAAA', ct: 'c2VjcmV0', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' };

export const PROFILES: Record<'asA' | 'asB' | 'asC', Record<LifeDomain, number>> = {
  asA: { economic: 3, employment: 4, education: 1, housing: 2, social_network: 0, health_care: 1, training: 2 },
  asB: { economic: 1, employment: 2, education: 0, housing: 4, social_network: 2, health_care: 0, training: 1 },
  asC: { economic: 2, employment: 3, education: 2, housing: 1, social_network: 1, health_care: 3, training: 4 },
};

interface Planned {
  stream: string;
  key: string;
  type: EventType;
  data: unknown;
  hours: number;
  actor: Actor;
  id: string;
}

export interface Scenario {
  persons: Record<'A' | 'B' | 'C' | 'D' | 'E', string>;
  assessments: Record<'asA' | 'asB' | 'asC' | 'asD' | 'asD2', string>;
  referrals: Record<'r1' | 'r2' | 'r3' | 'r4' | 'r5' | 'r6' | 'r7' | 'r8', string>;
  /** id of D's referral_sharing ConsentGiven event */
  consentOfD: string;
  /** events appended */
  events: number;
  /** global position of the last of them */
  lastPosition: number;
}

const SOURCE: Record<string, string> = { person: '/onestop/intake', assessment: '/onestop/assessment', referral: '/onestop/referral', partner: '/onestop/referral' };

export async function appendScenario(store: EventStore): Promise<Scenario> {
  const plan: Planned[] = [];
  const admin: Actor = { id: 'admin-1', role: 'admin' };
  const operator = (id: string): Actor => ({ id, role: 'operator' });
  const sw: Actor = { id: 'sw-1', role: 'team', teamRole: 'social_worker' };
  const partnerActor = (partnerId: string): Actor => ({ id: `${partnerId}-desk`, role: 'partner', partnerId });
  const add = <T extends EventType>(stream: string, key: string, type: T, data: EventData<T>, hours: number, actor: Actor, id = randomUUID()) => {
    plan.push({ stream, key, type, data, hours, actor, id });
    return id;
  };

  // ── Directory ─────────────────────────────────────────────────────────────
  add('partner-caritas', 'caritas', 'PartnerRegistered', {
    partnerId: 'caritas',
    name: 'Caritas Pistoia',
    sector: 'third_sector',
    services: [
      { serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 5 },
      { serviceId: 'food-bank', name: 'Emporio solidale', domain: 'economic', capacity: 50 },
    ],
  }, -720, admin);
  add('partner-caritas', 'caritas', 'PartnerJoinedAgreement', { agreementId: 'accordo-pistoia', responseDays: 5 }, -719, admin);
  add('partner-caritas', 'caritas', 'ServiceCapacityChanged', { serviceId: 'food-bank', capacity: 40 }, -718, partnerActor('caritas'));
  add('partner-centro-impiego', 'centro-impiego', 'PartnerRegistered', {
    partnerId: 'centro-impiego',
    name: 'Centro per l’impiego',
    sector: 'public',
    services: [{ serviceId: 'job-coaching', name: 'Orientamento', domain: 'employment', capacity: 10 }],
  }, -720, admin);
  add('partner-centro-impiego', 'centro-impiego', 'PartnerJoinedAgreement', { agreementId: 'accordo-pistoia', responseDays: 5 }, -719, admin);
  add('partner-asl-pistoia', 'asl-pistoia', 'PartnerRegistered', {
    partnerId: 'asl-pistoia',
    name: 'ASL Toscana Centro',
    sector: 'public',
    services: [{ serviceId: 'counselling', name: 'Consultorio', domain: 'health_care', capacity: 3 }],
  }, -720, admin);

  // ── Persons ───────────────────────────────────────────────────────────────
  const persons = { A: randomUUID(), B: randomUUID(), C: randomUUID(), D: randomUUID(), E: randomUUID() };
  const consents: Record<string, string> = {};
  const person = (name: keyof typeof persons, by: string, accessPoint: string, municipality: string, birthYear: number, hours: number, consent: boolean) => {
    const id = persons[name];
    const stream = `person-${id}`;
    add(stream, id, 'PersonRegistered', { personId: id, accessPoint, registeredBy: by, pii: cipher, municipality, birthYear }, hours, operator(by));
    if (consent) {
      add(stream, id, 'ConsentGiven', { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: by }, hours + 1, operator(by));
      consents[name] = add(stream, id, 'ConsentGiven', { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: by }, hours + 1, operator(by));
    }
  };
  person('A', 'op-1', 'pistoia-centro', 'Pistoia', 1980, -240, true);
  person('B', 'op-1', 'pistoia-centro', 'Pistoia', 1975, -230, true);
  person('C', 'op-2', 'capannori', 'Capannori', 1990, -220, true);
  person('D', 'op-2', 'capannori', 'Capannori', 1985, -210, true);
  person('E', 'op-1', 'pistoia-centro', 'Pistoia', 2000, -200, false);
  add(`person-${persons.E}`, persons.E, 'ContactDetailsUpdated', { pii: cipher, updatedBy: 'op-1' }, -150, operator('op-1'));
  add(`person-${persons.E}`, persons.E, 'PersonalDataErased', { requestedBy: 'op-1', reason: 'data_subject_request' }, -100, operator('op-1'));
  add(`person-${persons.D}`, persons.D, 'ConsentWithdrawn', { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-2' }, 100, operator('op-2'));

  // ── Assessments ───────────────────────────────────────────────────────────
  const assessments = { asA: randomUUID(), asB: randomUUID(), asC: randomUUID(), asD: randomUUID(), asD2: randomUUID() };
  const member = (memberId: string, role: 'social_worker' | 'employment_operator' | 'educator') => ({ memberId, role });
  const start = (name: keyof typeof assessments, personName: keyof typeof persons, team: Array<ReturnType<typeof member>>, hours: number) => {
    const id = assessments[name];
    add(`assessment-${id}`, persons[personName], 'AssessmentStarted', { assessmentId: id, personId: persons[personName], team }, hours, sw);
  };
  const complete = (name: 'asA' | 'asB' | 'asC', personName: keyof typeof persons, hours: number) => {
    const id = assessments[name];
    const profile = PROFILES[name];
    for (const [domain, needLevel] of Object.entries(profile)) {
      add(`assessment-${id}`, persons[personName], 'DomainEvaluated', { domain: domain as LifeDomain, needLevel, notes: cipher, evaluatedBy: 'sw-1' }, hours - 5, sw);
    }
    const priorityDomains = (Object.keys(profile) as LifeDomain[]).filter((d) => profile[d] >= 3);
    const goals = priorityDomains.map((domain) => ({ goalId: randomUUID(), domain, description: cipher, targetDate: '2026-12-31' }));
    add(`assessment-${id}`, persons[personName], 'AssessmentCompleted', { needProfile: profile, priorityDomains, goals }, hours, sw);
  };
  start('asA', 'A', [member('sw-1', 'social_worker'), member('eo-1', 'employment_operator')], -200);
  complete('asA', 'A', -180);
  start('asB', 'B', [member('sw-1', 'social_worker'), member('ed-1', 'educator')], -190);
  complete('asB', 'B', -170);
  start('asC', 'C', [member('eo-1', 'employment_operator'), member('ed-1', 'educator')], -180);
  complete('asC', 'C', -160);
  start('asD', 'D', [member('sw-1', 'social_worker'), member('eo-1', 'employment_operator')], -170);
  add(`assessment-${assessments.asD}`, persons.D, 'AssessmentCancelled', { reason: 'team_decision' }, -150, sw);
  start('asD2', 'D', [member('sw-1', 'social_worker'), member('ed-1', 'educator')], -140);
  add(`assessment-${assessments.asD2}`, persons.D, 'DomainEvaluated', { domain: 'housing', needLevel: 3, evaluatedBy: 'sw-1' }, -139, sw);

  // ── Referrals ─────────────────────────────────────────────────────────────
  const referrals = { r1: '', r2: '', r3: '', r4: '', r5: '', r6: '', r7: '', r8: '' } as Scenario['referrals'];
  const domainOf: Record<string, LifeDomain> = { 'housing-desk': 'housing', 'food-bank': 'economic', 'job-coaching': 'employment' };
  const refer = (
    name: keyof Scenario['referrals'],
    personName: 'A' | 'B' | 'C',
    assessment: 'asA' | 'asB' | 'asC',
    partnerId: string,
    serviceId: string,
    hours: number,
    then: Array<[hours: number, type: 'ReferralAccepted' | 'ReferralDeclined' | 'ServiceStarted' | 'ServiceCompleted' | 'ReferralCancelled' | 'ReferralOverdue', data: unknown]>,
  ) => {
    const id = randomUUID();
    referrals[name] = id;
    const key = persons[personName];
    const stream = `referral-${id}`;
    add(stream, key, 'ReferredToPartner', {
      referralId: id,
      personId: key,
      assessmentId: assessments[assessment],
      partnerId,
      serviceId,
      domain: domainOf[serviceId]!,
      reason: cipher,
      priority: 'routine',
      respondBy: at(hours + 120),
      referredBy: 'sw-1',
      consentEventId: consents[personName]!,
    }, hours, sw);
    for (const [h, type, data] of then) {
      const actor = type === 'ReferralCancelled' ? sw : type === 'ReferralOverdue' ? { id: 'sla-watcher', role: 'system' as const } : partnerActor(partnerId);
      add(stream, key, type, data as never, h, actor);
    }
  };
  refer('r1', 'A', 'asA', 'caritas', 'housing-desk', 0, [
    [24, 'ReferralAccepted', { expectedStart: '2026-03-05' }],
    [72, 'ServiceStarted', {}],
    [240, 'ServiceCompleted', { outcome: 'achieved' }],
  ]);
  refer('r2', 'A', 'asA', 'centro-impiego', 'job-coaching', 0, [[48, 'ReferralDeclined', { reason: 'no_capacity', note: cipher }]]);
  refer('r3', 'B', 'asB', 'caritas', 'housing-desk', 24, [
    [36, 'ReferralAccepted', {}],
    [72, 'ServiceStarted', {}],
  ]);
  refer('r4', 'B', 'asB', 'caritas', 'food-bank', 24, [
    [145, 'ReferralOverdue', { dueAt: at(144) }],
    [168, 'ReferralDeclined', { reason: 'not_eligible' }],
  ]);
  refer('r5', 'C', 'asC', 'centro-impiego', 'job-coaching', 48, [
    [54, 'ReferralAccepted', {}],
    [72, 'ServiceStarted', {}],
    [480, 'ServiceCompleted', { outcome: 'dropped_out' }],
  ]);
  refer('r6', 'C', 'asC', 'caritas', 'food-bank', 48, [[169, 'ReferralOverdue', { dueAt: at(168) }]]);
  refer('r7', 'A', 'asA', 'caritas', 'food-bank', 72, [[96, 'ReferralCancelled', { reason: 'team_decision' }]]);
  refer('r8', 'C', 'asC', 'caritas', 'housing-desk', 72, [
    [108, 'ReferralAccepted', {}],
    [168, 'ServiceStarted', {}],
    [360, 'ServiceCompleted', { outcome: 'partially_achieved' }],
  ]);

  // appended in the order of their time (each stream keeps its own order: the sort is stable)
  plan.sort((a, b) => a.hours - b.hours);
  let lastPosition = 0;
  for (const p of plan) {
    const category = p.stream.slice(0, p.stream.indexOf('-'));
    const event = createEvent(p.type, p.data as never, p.stream, p.key, {
      source: SOURCE[category]!,
      actor: p.actor,
      correlationId: 'scenario',
      time: at(p.hours),
    }, p.id);
    lastPosition = (await store.append(p.stream, [event as RawEnvelope], 'any')).globalPositions[0]!;
  }
  return { persons, assessments, referrals, consentOfD: consents.D!, events: plan.length, lastPosition };
}

/**
 * Waits until the read models hold everything up to `position`. Reads of the
 * log are gap-safe against every transaction of the server (other test
 * databases too), so first the log must show `position`, then nothing may lag.
 */
export async function caughtUp(store: EventStore, lag: () => Promise<number>, position: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await store.headPosition()) >= position && (await lag()) === 0) return;
    if (Date.now() > deadline) throw new Error(`read models not caught up with position ${position} after ${timeoutMs} ms (lag ${await lag()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
