import { randomUUID } from 'node:crypto';
import { validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventContext, type LifeDomain, type RawEnvelope } from '@onestop/events';
import { buildServiceApp, ManualClock } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '@onestop/intake';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { referralModule } from '../src/app.js';

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let stop: () => Promise<void>;
const clock = new ManualClock(new Date('2026-11-26T09:00:00.000Z'));
const referral = referralModule({ slaIntervalMs: 3_600_000 });
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase('referral');
  infra = await openTestInfrastructure({ databaseUrl: db.url, clock });
  const intake = intakeModule();
  await intake.migrate!(infra);
  await referral.migrate!(infra);
  app = await buildServiceApp({ title: 'test', description: 'test', modules: [intake, referral], ctx: infra });
  await app.ready();
  stop = await referral.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.caritas = await infra.token({ sub: 'caritas-desk', role: 'partner', partnerId: 'caritas' });
  tokens.cpi = await infra.token({ sub: 'cpi-desk', role: 'partner', partnerId: 'centro-impiego' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
});

afterAll(async () => {
  await stop?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, role: string | null, body?: unknown) =>
  app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: role ? { authorization: `Bearer ${tokens[role]}` } : {} });

async function person(consent = true): Promise<string> {
  const res = await call('POST', '/persons', 'operator', {
    accessPoint: 'pistoia-centro',
    municipality: 'Pistoia',
    givenName: 'Test',
    familyName: `Person ${randomUUID().slice(0, 6)}`,
    birthDate: '1980-01-01',
  });
  const personId = res.json().personId as string;
  if (consent) await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
  return personId;
}

/** A completed assessment, appended as the assessment service would record it. */
async function completedAssessment(personId: string, profile: Partial<Record<LifeDomain, number>>): Promise<string> {
  const assessmentId = randomUUID();
  const ctx: EventContext = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' }, correlationId: 'test', time: clock.now().toISOString() };
  const stream = `assessment-${assessmentId}`;
  const needProfile = { economic: 0, employment: 0, education: 0, housing: 0, social_network: 0, health_care: 0, training: 0, ...profile };
  const events = [
    createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }] }, stream, personId, ctx),
    createEvent('AssessmentCompleted', { needProfile, priorityDomains: [], goals: [] }, stream, personId, ctx),
  ];
  await infra.store.append(stream, events as unknown as RawEnvelope[], 'no_stream');
  return assessmentId;
}

const caritas = {
  partnerId: 'caritas',
  name: 'Caritas Pistoia',
  sector: 'third_sector',
  services: [
    { serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 1 },
    { serviceId: 'food-bank', name: 'Emporio solidale', domain: 'economic', capacity: 50 },
  ],
};

async function referBody(personId: string, assessmentId: string, serviceId = 'housing-desk') {
  return { personId, assessmentId, partnerId: 'caritas', serviceId, reason: 'evicted, needs a room', priority: 'urgent' };
}

/** Refers once the referral service has heard of the consent and the assessment. */
async function refer(personId: string, assessmentId: string, serviceId = 'housing-desk') {
  return eventually(async () => {
    const res = await call('POST', '/referrals', 'team', await referBody(personId, assessmentId, serviceId));
    if (res.statusCode === 422 || res.statusCode === 404) {
      const code = res.json().code;
      if (code === 'referral_consent_missing' || code === 'not_found' || code === 'assessment_not_completed') throw new Error(`not yet: ${code}`);
    }
    return res;
  });
}

describe('directory', () => {
  it('registers partners (201) and refuses a duplicate (409), bad bodies (400), other roles (401/403)', async () => {
    expect((await call('POST', '/partners', 'admin', caritas)).statusCode).toBe(201);
    expect((await call('POST', '/partners', 'admin', caritas)).json()).toMatchObject({ status: 409, code: 'partner_already_registered' });
    expect((await call('POST', '/partners', 'admin', { ...caritas, partnerId: 'Not OK', services: [] })).statusCode).toBe(400);
    // strict at every depth: an unknown field inside services[] is refused, not dropped
    const nested = await call('POST', '/partners', 'admin', { ...caritas, partnerId: 'caritas-bis', services: caritas.services.map((s) => ({ ...s, contact: 'x' })) });
    expect(nested.json()).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((await call('POST', '/partners', null, caritas)).statusCode).toBe(401);
    expect((await call('POST', '/partners', 'team', caritas)).statusCode).toBe(403);
    expect(
      (await call('POST', '/partners', 'admin', { partnerId: 'centro-impiego', name: 'Centro per l’impiego', sector: 'public', services: [{ serviceId: 'job-coaching', name: 'Orientamento', domain: 'employment', capacity: 10 }] })).statusCode,
    ).toBe(201);
  });

  it('joins the agreement (201); the same join again records nothing (200), other terms are refused (409); leaving one it is not in records nothing (200)', async () => {
    expect((await call('POST', '/partners/caritas/agreements', 'admin', { responseDays: 5 })).statusCode).toBe(201);
    const again = await call('POST', '/partners/caritas/agreements', 'admin', { responseDays: 5 });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ recorded: false });
    expect((await call('POST', '/partners/caritas/agreements', 'admin', { responseDays: 9 })).json()).toMatchObject({ status: 409, code: 'already_in_agreement' });
    const leave = await call('POST', '/partners/caritas/agreements/other-agreement/leave', 'admin');
    expect(leave.statusCode).toBe(200);
    expect(leave.json()).toMatchObject({ recorded: false });
    expect((await call('POST', '/partners/nobody/agreements', 'admin', { responseDays: 5 })).statusCode).toBe(404);
  });

  it('leaves an agreement (200) and the directory no longer lists it', async () => {
    expect((await call('POST', '/partners/caritas/agreements', 'admin', { agreementId: 'accordo-extra', responseDays: 9 })).statusCode).toBe(201);
    const left = await call('POST', '/partners/caritas/agreements/accordo-extra/leave', 'admin');
    expect(left.statusCode, left.body).toBe(200);
    expect((await call('GET', '/partners/caritas', 'operator')).json().agreements).toEqual({ 'accordo-pistoia': { responseDays: 5 } });
  });

  it('lets a partner change only its own capacity', async () => {
    expect((await call('PUT', '/partners/caritas/services/food-bank/capacity', 'caritas', { capacity: 40 })).statusCode).toBe(200);
    expect((await call('PUT', '/partners/caritas/services/food-bank/capacity', 'cpi', { capacity: 0 })).statusCode).toBe(403);
    expect((await call('PUT', '/partners/caritas/services/cooking/capacity', 'admin', { capacity: 1 })).statusCode).toBe(422);
  });

  it('lists partners with their free capacity; 404 for an unknown partner', async () => {
    // the list is a view of the directory topic: it hears of the partner a moment after it was registered
    await eventually(async () => {
      const list = (await call('GET', '/partners', 'operator')).json();
      expect(list.find((p: { partnerId: string }) => p.partnerId === 'caritas')).toMatchObject({
        agreements: { 'accordo-pistoia': { responseDays: 5 } },
        services: expect.arrayContaining([expect.objectContaining({ serviceId: 'food-bank', capacity: 40, free: 40 })]),
      });
    });
    expect((await call('GET', '/partners/nobody', 'operator')).statusCode).toBe(404);
  });
});

describe('referral lifecycle', () => {
  let personId: string;
  let assessmentId: string;
  let referralId: string;

  beforeAll(async () => {
    personId = await person();
    assessmentId = await completedAssessment(personId, { housing: 3, economic: 1 });
  });

  it('refers (201) with respondBy from the agreement and the consent that allows it', async () => {
    const res = await refer(personId, assessmentId);
    expect(res.statusCode).toBe(201);
    referralId = res.json().referralId;
    expect(res.json().respondBy).toBe('2026-12-01T09:00:00.000Z');
    const [event] = await infra.store.readStream(`referral-${referralId}`);
    expect(event).toMatchObject({ type: 'ReferredToPartner', partitionKey: personId, data: { consentEventId: expect.any(String), domain: 'housing' } });
    expect(JSON.stringify(event)).not.toContain('evicted');
  });

  it('refuses a second open referral to the same service (409), other roles (403), bad bodies (400)', async () => {
    const again = await call('POST', '/referrals', 'team', await referBody(personId, assessmentId));
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'referral_already_open', existingReferralId: referralId });
    expect((await call('POST', '/referrals', 'operator', await referBody(personId, assessmentId))).statusCode).toBe(403);
    expect((await call('POST', '/referrals', 'team', { ...(await referBody(personId, assessmentId)), priority: 'whenever' })).statusCode).toBe(400);
  });

  it('refuses a partner outside the agreement and a domain without need (422)', async () => {
    const outside = await call('POST', '/referrals', 'team', { ...(await referBody(personId, assessmentId)), partnerId: 'centro-impiego', serviceId: 'job-coaching' });
    expect(outside.json()).toMatchObject({ status: 422, code: 'partner_not_in_agreement' });
    const other = await person();
    const noHousing = await completedAssessment(other, { economic: 2 });
    const res = await eventually(async () => {
      const r = await call('POST', '/referrals', 'team', await referBody(other, noHousing));
      expect(r.json().code).toBe('no_need_in_domain');
      return r;
    });
    expect(res.statusCode).toBe(422);
  });

  it('refuses a person without referral_sharing consent (422)', async () => {
    const noConsent = await person(false);
    const a = await completedAssessment(noConsent, { housing: 2 });
    await eventually(async () => {
      const r = await call('POST', '/referrals', 'team', await referBody(noConsent, a));
      expect(r.json()).toMatchObject({ status: 422, code: 'referral_consent_missing' });
    });
  });

  it('shows the referral in the addressed partner’s inbox only', async () => {
    const inbox = (await call('GET', '/partners/caritas/referrals?status=requested', 'caritas')).json();
    expect(inbox.map((r: { referralId: string }) => r.referralId)).toContain(referralId);
    expect((await call('GET', '/partners/caritas/referrals', 'cpi')).statusCode).toBe(403);
    expect((await call('GET', `/referrals/${referralId}`, 'cpi')).statusCode).toBe(404);
    expect((await call('GET', `/referrals/${referralId}`, 'caritas')).json()).toMatchObject({ status: 'requested', partnerId: 'caritas' });
  });

  it('another partner gets 404 at every step, as for a referral that does not exist; the addressed partner accepts, starts and completes', async () => {
    expect((await call('POST', `/referrals/${referralId}/acceptance`, 'cpi', {})).statusCode).toBe(404);
    const early = await call('POST', `/referrals/${referralId}/start`, 'caritas', {});
    expect(early.json(), early.body).toMatchObject({ status: 422, code: 'transition_refused' });
    expect((await call('POST', `/referrals/${referralId}/acceptance`, 'caritas', { expectedStart: '2026-12-03' })).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${referralId}/start`, 'cpi', {})).statusCode).toBe(404);
    expect((await call('POST', `/referrals/${referralId}/start`, 'caritas', {})).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${referralId}/completion`, 'cpi', { outcome: 'achieved' })).statusCode).toBe(404);
    expect((await call('POST', `/referrals/${referralId}/completion`, 'caritas', { outcome: 'maybe' })).statusCode).toBe(400);
    const completion = await call('POST', `/referrals/${referralId}/completion`, 'caritas', { outcome: 'achieved' });
    expect(completion.statusCode).toBe(200);
    // the referral is read from a view: `after` waits for the completion just recorded
    expect((await call('GET', `/referrals/${referralId}?after=${completion.json().position}`, 'team')).json()).toMatchObject({ status: 'completed' });
    expect((await call('POST', `/referrals/${referralId}/cancellation`, 'team', { reason: 'team_decision' })).statusCode).toBe(422);
    expect((await call('POST', `/referrals/${randomUUID()}/acceptance`, 'caritas', {})).statusCode).toBe(404);
    expect((await call('POST', `/referrals/${referralId}/acceptance`, 'team', {})).statusCode).toBe(403);
  });

  it('takes a place on acceptance: with capacity 1, a second acceptance is refused until the first one ends', async () => {
    const [a, b] = [await person(), await person()];
    const [aa, ab] = [await completedAssessment(a, { housing: 4 }), await completedAssessment(b, { housing: 4 })];
    const ra = (await refer(a, aa)).json().referralId;
    const rb = (await refer(b, ab)).json().referralId;
    const results = await Promise.all([ra, rb].map((id) => call('POST', `/referrals/${id}/acceptance`, 'caritas', {})));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 422]);
    const free = (await call('GET', '/partners/caritas', 'team')).json().services.find((s: { serviceId: string }) => s.serviceId === 'housing-desk');
    expect(free).toMatchObject({ capacity: 1, occupied: 1, free: 0 });
    // a new referral to the full service is refused
    const c = await person();
    const ac = await completedAssessment(c, { housing: 2 });
    await eventually(async () => expect((await call('POST', '/referrals', 'team', await referBody(c, ac))).json()).toMatchObject({ code: 'no_free_capacity' }));
  });
});

describe('Idempotency-Key: a retry whose first answer was lost', () => {
  const keyed = (body: unknown, key: string) =>
    app.inject({ method: 'POST', url: '/referrals', payload: body as object, headers: { authorization: `Bearer ${tokens.team}`, 'idempotency-key': key } });
  const answerLost = (key: string) => infra.db.query('DELETE FROM kit.idempotency_keys WHERE key = $1', [key]);
  // a refusal is an answer too, kept under its key: the keyed request is sent once the service knows the facts
  const factsKnown = (personId: string, assessmentId: string) =>
    eventually(async () => {
      const rows = await infra.db.query(
        `SELECT 1 FROM referral_facts.person_facts p JOIN referral_facts.assessment_facts a ON a.person_id = p.person_id
          WHERE p.person_id = $1 AND p.referral_consent AND a.assessment_id = $2 AND a.status = 'completed'`,
        [personId, assessmentId],
      );
      expect(rows).toHaveLength(1);
    });

  it('answers with what was recorded the first time, not with what the clock says now', async () => {
    const p = await person();
    const a = await completedAssessment(p, { economic: 2 });
    const body = await referBody(p, a, 'food-bank');
    const key = `refer-${p}`;
    await factsKnown(p, a);
    const first = await keyed(body, key);
    expect(first.statusCode, first.body).toBe(201);
    await answerLost(key);
    clock.advance(3 * 3_600_000);
    const retry = await keyed(body, key);
    clock.advance(-3 * 3_600_000);
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.json()).toEqual(first.json());
    expect((await infra.store.readCase(p)).filter((e) => e.type === 'ReferredToPartner')).toHaveLength(1);
  });

  it('says it was recorded already when today’s state would refuse it, instead of refusing it', async () => {
    const p = await person();
    const a = await completedAssessment(p, { economic: 2 });
    const body = await referBody(p, a, 'food-bank');
    const key = `refer-gone-${p}`;
    await factsKnown(p, a);
    expect((await keyed(body, key)).statusCode).toBe(201);
    await answerLost(key);
    // the consent goes: a new referral would be refused now
    expect((await call('POST', `/persons/${p}/consents/referral_sharing/withdrawal`, 'operator')).statusCode).toBe(200);
    await eventually(async () => expect((await call('POST', '/referrals', 'team', await referBody(p, a, 'housing-desk'))).json().code).toBe('referral_consent_missing'));
    const retry = await keyed(body, key);
    expect(retry.statusCode, retry.body).toBe(409);
    expect(retry.json()).toMatchObject({ code: 'request_already_recorded' });
    expect((await infra.store.readCase(p)).filter((e) => e.type === 'ReferredToPartner')).toHaveLength(1);
  });
});

describe('automatic behaviour', () => {
  it('withdrawing referral_sharing consent cancels the person’s open referrals', async () => {
    const p = await person();
    const a = await completedAssessment(p, { economic: 2 });
    const id = (await refer(p, a, 'food-bank')).json().referralId;
    expect((await call('POST', `/persons/${p}/consents/referral_sharing/withdrawal`, 'operator')).statusCode).toBe(200);
    await eventually(async () => expect((await call('GET', `/referrals/${id}`, 'team')).json()).toMatchObject({ status: 'cancelled' }));
    const events = await infra.store.readStream(`referral-${id}`);
    expect(events.at(-1)).toMatchObject({ type: 'ReferralCancelled', data: { reason: 'consent_withdrawn' }, actor: { role: 'system' } });
  });

  it('the SLA watcher emits ReferralOverdue exactly once when respondBy passes', async () => {
    const p = await person();
    const a = await completedAssessment(p, { economic: 1 });
    const referred = (await refer(p, a, 'food-bank')).json();
    const id = referred.referralId;
    // the watcher's work list is a view: wait until it has heard of this referral (and, in log order, of every earlier one)
    expect((await call('GET', `/referrals/${id}?after=${referred.position}`, 'team')).statusCode).toBe(200);
    const referrals = referral.referrals(infra);
    expect(await referrals.markOverdue(new Date('2026-11-30T09:00:00.000Z'))).toBe(0);
    const late = new Date('2026-12-01T09:00:01.000Z');
    const [first, second] = await Promise.all([referrals.markOverdue(late), referrals.markOverdue(late)]);
    expect(first + second).toBeGreaterThanOrEqual(1);
    expect(await referrals.markOverdue(late)).toBe(0);
    const overdue = (await infra.store.readStream(`referral-${id}`)).filter((e) => e.type === 'ReferralOverdue');
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toMatchObject({ actor: { id: 'referral-sla-watcher', role: 'system' } });
    expect((await call('GET', `/partners/caritas/referrals?overdue=true&after=${overdue[0]!.globalPosition}`, 'caritas')).json().map((r: { referralId: string }) => r.referralId)).toContain(id);
  });
});

describe('OpenAPI', () => {
  it('the referral document is valid OpenAPI 3.1', async () => {
    const only = await buildServiceApp({ title: referral.title, description: referral.description, modules: [referral], ctx: infra });
    const doc = (await only.inject('/openapi.json')).json();
    await only.close();
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/referrals/{referralId}/acceptance');
  });
});
