import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventContext, type LifeDomain, type RawEnvelope } from '@onestop/events';
import { buildServiceApp, ManualClock } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '@onestop/intake';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { referralModule } from '../src/app.js';

// Waitlist and re-referral over HTTP on real PostgreSQL (issue 14, part 6),
// and the freed place told exactly once with two replicas and redeliveries.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let replica: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let stop: () => Promise<void>;
const clock = new ManualClock(new Date('2026-11-26T09:00:00.000Z'));
const referral = referralModule({ slaIntervalMs: 3_600_000 });
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase('waitlist');
  infra = await openTestInfrastructure({ databaseUrl: db.url, clock });
  // a second process on the same database (its own pool, its own use cases)
  replica = await openTestInfrastructure({
    databaseUrl: db.url,
    clock,
    env: { ONESTOP_MASTER_KEYS: infra.config.ONESTOP_MASTER_KEYS!, ONESTOP_INDEX_KEY: infra.config.ONESTOP_INDEX_KEY! },
  });
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
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  const partners = [
    {
      partnerId: 'caritas',
      name: 'Caritas Pistoia',
      sector: 'third_sector',
      services: [
        { serviceId: 'housing-desk', name: 'Sportello casa', domain: 'housing', capacity: 1 },
        { serviceId: 'shelter', name: 'Accoglienza', domain: 'housing', capacity: 2 },
        { serviceId: 'food-bank', name: 'Emporio', domain: 'economic', capacity: 1 },
      ],
    },
    { partnerId: 'centro-impiego', name: 'Centro per l’impiego', sector: 'public', services: [{ serviceId: 'job-coaching', name: 'Orientamento', domain: 'employment', capacity: 10 }] },
  ];
  for (const p of partners) {
    expect((await call('POST', '/partners', 'admin', p)).statusCode).toBe(201);
    expect((await call('POST', `/partners/${p.partnerId}/agreements`, 'admin', { agreementId: 'accordo-pistoia', responseDays: 5 })).statusCode).toBe(201);
  }
});

afterAll(async () => {
  await stop?.();
  await app?.close();
  await replica?.close();
  await infra?.close();
  await db?.drop();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, role: string | null, body?: unknown) =>
  app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: role ? { authorization: `Bearer ${tokens[role]}` } : {} });

async function person(): Promise<string> {
  const res = await call('POST', '/persons', 'operator', { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Test', familyName: `Person ${randomUUID().slice(0, 6)}`, birthDate: '1980-01-01' });
  const personId = res.json().personId as string;
  await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
  return personId;
}

async function completedAssessment(personId: string, profile: Partial<Record<LifeDomain, number>>): Promise<string> {
  const assessmentId = randomUUID();
  const ctx: EventContext = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' }, correlationId: 'test', time: clock.now().toISOString() };
  const stream = `assessment-${assessmentId}`;
  const needProfile = { economic: 0, employment: 0, education: 0, housing: 0, social_network: 0, health_care: 0, training: 0, ...profile };
  const events = [
    createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: 'sw-1', role: 'social_worker' }] }, stream, personId, ctx),
    createEvent('AssessmentCompleted', { needProfile, priorityDomains: [], goals: [] }, stream, personId, ctx),
  ];
  await infra.store.append(stream, events as unknown as RawEnvelope[], 'no_stream');
  return assessmentId;
}

/** A new person referred to a caritas service, once the referral service has heard of the consent and the assessment. */
async function referred(serviceId: string): Promise<{ personId: string; referralId: string }> {
  const personId = await person();
  const assessmentId = await completedAssessment(personId, { housing: 3, economic: 2, employment: 2 });
  const res = await eventually(async () => {
    const r = await call('POST', '/referrals', 'team', { personId, assessmentId, partnerId: 'caritas', serviceId, reason: 'needs a room', priority: 'routine' });
    expect(r.statusCode, r.body).toBe(201);
    return r;
  });
  return { personId, referralId: res.json().referralId };
}

const placeAvailable = async (referralId: string) => (await infra.store.readStream(`referral-${referralId}`)).filter((e) => e.type === 'ReferralPlaceAvailable');
const view = async (referralId: string, role = 'team', after?: number) =>
  (await call('GET', `/referrals/${referralId}${after !== undefined ? `?after=${after}` : ''}`, role)).json();

describe('waitlist over HTTP', () => {
  let a: string;
  let b: string;
  let c: string;

  it('a partner with no free place waitlists a requested referral (on-hold, expected date); it holds no place', async () => {
    [a, b, c] = [(await referred('housing-desk')).referralId, (await referred('housing-desk')).referralId, (await referred('housing-desk')).referralId];
    expect((await call('POST', `/referrals/${a}/acceptance`, 'caritas', {})).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${b}/acceptance`, 'caritas', {})).json()).toMatchObject({ status: 422, code: 'no_free_capacity' });
    const held = await call('POST', `/referrals/${b}/waitlist`, 'caritas', { expectedDate: '2027-02-01' });
    expect(held.statusCode, held.body).toBe(200);
    expect(held.json()).toMatchObject({ recorded: true });
    expect((await call('POST', `/referrals/${c}/waitlist`, 'caritas', { expectedDate: '2027-03-01' })).statusCode).toBe(200);
    expect(await view(b, 'team', held.json().position)).toMatchObject({ status: 'on-hold', expectedDate: '2027-02-01', placeAvailableAt: null });
    const service = (await call('GET', '/partners/caritas', 'team')).json().services.find((s: { serviceId: string }) => s.serviceId === 'housing-desk');
    expect(service).toMatchObject({ capacity: 1, occupied: 1, free: 0 });
  });

  it('a plain repeat records nothing (200); another date is refused (409 done_otherwise); other partners and roles cannot', async () => {
    expect((await call('POST', `/referrals/${b}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).json()).toMatchObject({ recorded: false });
    expect((await call('POST', `/referrals/${b}/waitlist`, 'caritas', { expectedDate: '2027-04-01' })).json()).toMatchObject({ status: 409, code: 'done_otherwise' });
    expect((await call('POST', `/referrals/${b}/waitlist`, 'cpi', { expectedDate: '2027-02-01' })).statusCode).toBe(404);
    expect((await call('POST', `/referrals/${b}/waitlist`, 'team', { expectedDate: '2027-02-01' })).statusCode).toBe(403);
    expect((await call('POST', `/referrals/${b}/waitlist`, 'caritas', { expectedDate: 'soon' })).statusCode).toBe(400);
    // an accepted referral holds its place: it is not waitlisted
    expect((await call('POST', `/referrals/${a}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).json()).toMatchObject({ status: 422, code: 'transition_refused' });
  });

  it('when the place frees up, only the first waitlisted referral is told, once; the partner inbox and the team view show it', async () => {
    expect((await call('POST', `/referrals/${a}/start`, 'caritas', {})).statusCode).toBe(200);
    const done = await call('POST', `/referrals/${a}/completion`, 'caritas', { outcome: 'achieved' });
    expect(done.statusCode).toBe(200);
    // the completion again (a retry): nothing recorded, nobody told again
    expect((await call('POST', `/referrals/${a}/completion`, 'caritas', { outcome: 'achieved' })).json()).toMatchObject({ recorded: false });
    expect(await placeAvailable(b)).toHaveLength(1);
    expect(await placeAvailable(c)).toHaveLength(0);
    const told = await view(b, 'team', done.json().position);
    expect(told).toMatchObject({ status: 'on-hold', placeAvailableAt: expect.any(String) });
    const inbox = (await call('GET', '/partners/caritas/referrals?status=on-hold', 'caritas')).json() as Array<{ referralId: string; placeAvailableAt: string | null }>;
    expect(inbox.find((r) => r.referralId === b)?.placeAvailableAt).toEqual(told.placeAvailableAt);
    expect(inbox.find((r) => r.referralId === c)?.placeAvailableAt).toBeNull();
  });

  it('the told referral is accepted and takes the place; raising the capacity tells the next one', async () => {
    expect((await call('POST', `/referrals/${b}/acceptance`, 'caritas', {})).statusCode).toBe(200);
    expect(await placeAvailable(c)).toHaveLength(0);
    expect((await call('PUT', '/partners/caritas/services/housing-desk/capacity', 'caritas', { capacity: 2 })).statusCode).toBe(200);
    expect(await placeAvailable(c)).toEqual([expect.objectContaining({ data: { cause: 'capacity_raised' } })]);
  });

  it('a waitlisted referral that is declined or cancelled leaves the line', async () => {
    const d = (await referred('food-bank')).referralId;
    const e = (await referred('food-bank')).referralId;
    const f = (await referred('food-bank')).referralId;
    expect((await call('POST', `/referrals/${d}/acceptance`, 'caritas', {})).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${e}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${f}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${e}/decline`, 'caritas', { reason: 'no_capacity' })).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${d}/cancellation`, 'team', { reason: 'person_request' })).statusCode).toBe(200);
    expect(await placeAvailable(e)).toHaveLength(0);
    expect(await placeAvailable(f)).toHaveLength(1);
  });
});

describe('a freed place is told exactly once, with two replicas and redeliveries', () => {
  it('two processes free two places at once, each twice: the two first in line are told once each', async () => {
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => referred('shelter').then((r) => r.referralId))) as [string, string, string, string];
    expect((await call('POST', `/referrals/${a}/acceptance`, 'caritas', {})).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${b}/acceptance`, 'caritas', {})).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${c}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).statusCode).toBe(200);
    expect((await call('POST', `/referrals/${d}/waitlist`, 'caritas', { expectedDate: '2027-02-01' })).statusCode).toBe(200);
    const ec = (n: number): EventContext => ({ source: '/onestop/referral', actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' }, correlationId: `race-${n}`, time: clock.now().toISOString() });
    const [one, two] = [referral.referrals(infra), referralModule().referrals(replica)];
    // each cancellation sent to both processes (a client retrying on the other replica, a redelivery)
    await Promise.all([
      one.cancel(a, 'team_decision', false, ec(1)),
      two.cancel(b, 'team_decision', false, ec(2)),
      two.cancel(a, 'team_decision', false, ec(3)),
      one.cancel(b, 'team_decision', false, ec(4)),
    ]);
    expect(await placeAvailable(c)).toHaveLength(1);
    expect(await placeAvailable(d)).toHaveLength(1);
    const placesEvents = await infra.store.readStream('places-caritas.shelter');
    expect(placesEvents.filter((e) => e.type === 'PlaceReleased')).toHaveLength(2);
    expect(placesEvents.filter((e) => e.type === 'PlaceOffered').map((e) => (e.data as { referralId: string }).referralId)).toEqual([c, d]);
  });
});

describe('re-referral', () => {
  it('a declined referral is re-referred to another partner; the links show both ways; repeats follow the rule', async () => {
    const { referralId: old } = await referred('food-bank');
    // not declined (yet): 409
    const early = await call('POST', `/referrals/${old}/re-referral`, 'team', { partnerId: 'centro-impiego', serviceId: 'job-coaching', reason: 'lavoro' });
    expect(early.json()).toMatchObject({ status: 409, code: 'referral_not_declined' });
    const declined = await call('POST', `/referrals/${old}/decline`, 'caritas', { reason: 'not_eligible' });
    expect(declined.statusCode).toBe(200);
    const body = { partnerId: 'centro-impiego', serviceId: 'job-coaching', reason: 'orientamento al lavoro' };
    const res = await call('POST', `/referrals/${old}/re-referral`, 'team', body);
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().referralId as string;
    expect(res.json()).toMatchObject({ replacesReferralId: old, recorded: true, status: 'requested' });
    expect(await view(id, 'team', res.json().position)).toMatchObject({ replacesReferralId: old, partnerId: 'centro-impiego', status: 'requested' });
    expect(await view(old, 'team', res.json().position)).toMatchObject({ status: 'rejected', replacedBy: id });
    // the new partner sees its referral; the old one's partner does not
    expect((await call('GET', `/referrals/${id}`, 'caritas')).statusCode).toBe(404);
    expect((await call('GET', `/referrals/${id}`, 'cpi')).statusCode).toBe(200);
    // the same again: 200, nothing recorded, the same referral; elsewhere: 409 done_otherwise
    const again = await call('POST', `/referrals/${old}/re-referral`, 'team', body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ referralId: id, replacesReferralId: old, recorded: false });
    expect((await call('POST', `/referrals/${old}/re-referral`, 'team', { ...body, partnerId: 'caritas', serviceId: 'housing-desk' })).json()).toMatchObject({ status: 409, code: 'done_otherwise' });
    expect((await infra.store.readStream(`referral-${old}`)).filter((e) => e.type === 'ReferralReplaced')).toHaveLength(1);
    // other roles, unknown referrals
    expect((await call('POST', `/referrals/${old}/re-referral`, 'caritas', body)).statusCode).toBe(403);
    expect((await call('POST', `/referrals/${randomUUID()}/re-referral`, 'team', body)).statusCode).toBe(404);
  });
});
