import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { createEvent, type EventContext, type LifeDomain, type RawEnvelope } from '@onestop/events';
import { buildServiceApp, ManualClock } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '@onestop/intake';
import { createTestDatabase, eventually } from '@onestop/testkit';
import { referralModule, type ReferralModuleOptions } from '../src/app.js';

// A Pistoia network for the FHIR tests: intake and referral mounted on
// PostgreSQL, two partners in the agreement, and helpers that register,
// assess and refer people as the other services would record it.

export const CARITAS = { partnerId: 'caritas', name: 'Caritas Pistoia', sector: 'third_sector', services: [{ serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 5 }] };
export const CPI = {
  partnerId: 'centro-impiego',
  name: 'Centro per l’impiego di Pistoia',
  sector: 'public',
  services: [{ serviceId: 'job-coaching', name: 'Orientamento', domain: 'employment', capacity: 10 }],
};

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Journey = Awaited<ReturnType<typeof openJourney>>;

export async function openJourney(label: string, options: ReferralModuleOptions = {}) {
  const db = await createTestDatabase(label);
  const clock = new ManualClock(new Date('2026-11-26T09:00:00.000Z'));
  const infra = await openTestInfrastructure({ databaseUrl: db.url, clock });
  const intake = intakeModule();
  const referral = referralModule({ slaIntervalMs: 3_600_000, ...options });
  await intake.migrate!(infra);
  await referral.migrate!(infra);
  const app: FastifyInstance = await buildServiceApp({ title: 'test', description: label, modules: [intake, referral], ctx: infra });
  await app.ready();
  const stop = await referral.start!(infra);
  const tokens: Record<string, string> = {
    operator: await infra.token({ sub: 'op-1', role: 'operator' }),
    team: await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' }),
    caritas: await infra.token({ sub: 'caritas-system', role: 'partner', partnerId: CARITAS.partnerId }),
    cpi: await infra.token({ sub: 'cpi-system', role: 'partner', partnerId: CPI.partnerId }),
    auditor: await infra.token({ sub: 'aud-1', role: 'auditor' }),
    admin: await infra.token({ sub: 'admin-1', role: 'admin' }),
  };

  const call = (method: Method, url: string, role: string | null, body?: unknown, contentType?: string) =>
    app.inject({
      method,
      url,
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...(body !== undefined ? { 'content-type': contentType ?? 'application/json' } : {}) },
    });

  /** The two partners, in the agreement. */
  const network = async () => {
    for (const p of [CARITAS, CPI]) {
      expect((await call('POST', '/partners', 'admin', p)).statusCode).toBe(201);
      expect((await call('POST', `/partners/${p.partnerId}/agreements`, 'admin', { responseDays: 5 })).statusCode).toBe(201);
    }
  };

  /** A registered person with referral_sharing consent. */
  const person = async (): Promise<string> => {
    const res = await call('POST', '/persons', 'operator', { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Giulia', familyName: `Bianchi ${randomUUID().slice(0, 6)}`, birthDate: '1979-03-04' });
    const personId = res.json().personId as string;
    await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
    return personId;
  };

  /** A completed assessment with a goal per domain of the profile, appended as the assessment service records it. */
  const completedAssessment = async (personId: string, profile: Partial<Record<LifeDomain, number>>) => {
    const assessmentId = randomUUID();
    const ctx: EventContext = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' }, correlationId: 'test', time: clock.now().toISOString() };
    const stream = `assessment-${assessmentId}`;
    const needProfile = { economic: 0, employment: 0, education: 0, housing: 0, social_network: 0, health_care: 0, training: 0, ...profile };
    const goals = await Promise.all(
      (Object.keys(profile) as LifeDomain[]).map(async (domain) => ({ goalId: randomUUID(), domain, description: await infra.keyring.encrypt(personId, `obiettivo ${domain}`), targetDate: '2027-06-30' })),
    );
    const events = [
      createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }] }, stream, personId, ctx),
      createEvent('AssessmentCompleted', { needProfile, priorityDomains: [], goals }, stream, personId, ctx),
    ];
    await infra.store.append(stream, events as unknown as RawEnvelope[], 'no_stream');
    return { assessmentId, goalIds: goals.map((g) => g.goalId) };
  };

  /** Refers once the referral service has heard of the consent and the assessment; waits until its view has the referral. */
  const refer = async (personId: string, assessmentId: string, partner: typeof CARITAS = CARITAS): Promise<string> => {
    const res = await eventually(async () => {
      const r = await call('POST', '/referrals', 'team', { personId, assessmentId, partnerId: partner.partnerId, serviceId: partner.services[0]!.serviceId, reason: 'sfratto esecutivo', priority: 'urgent' });
      expect(r.statusCode, r.body).toBe(201);
      return r;
    });
    const referralId = res.json().referralId as string;
    await eventually(async () => expect((await call('GET', `/referrals/${referralId}`, 'admin')).statusCode).toBe(200));
    return referralId;
  };

  /** A person with a completed assessment, referred to a partner: the referral's id and the person's. */
  const referredPerson = async (partner: typeof CARITAS = CARITAS) => {
    const personId = await person();
    const { assessmentId, goalIds } = await completedAssessment(personId, partner === CARITAS ? { housing: 3, employment: 2 } : { employment: 2 });
    return { personId, goalIds, referralId: await refer(personId, assessmentId, partner) };
  };

  /** Another process of the referral service on the same store and database (its consumers, watchers and couriers; no HTTP); its stop. */
  const replica = async () => {
    const other = await openTestInfrastructure({ databaseUrl: db.url, clock });
    const stopOther = await referralModule({ slaIntervalMs: 3_600_000, ...options }).start!(other);
    return async () => {
      await stopOther();
      await other.close();
    };
  };

  const close = async () => {
    await stop();
    await app.close();
    await infra.close();
    await db.drop();
  };

  return { infra, app, tokens, call, network, person, completedAssessment, refer, referredPerson, replica, close };
}
