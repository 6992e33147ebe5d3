import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { allModules } from '../src/modules.js';

// The whole path of DESIGN §4 over HTTP, on PostgreSQL with every service
// mounted: register → consents → assessment by two roles → seven domains →
// completion → referral → the partner accepts, starts and completes; another
// partner's token is refused at each partner step.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
const stops: Array<() => Promise<void>> = [];
const t: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase('scenario');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  const modules = allModules();
  for (const m of modules) await m.migrate?.(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'scenario', modules, ctx: infra });
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  t.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  t.sw = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  t.eo = await infra.token({ sub: 'eo-1', role: 'team', teamRole: 'employment_operator' });
  t.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  t.coeso = await infra.token({ sub: 'coeso-desk', role: 'partner', partnerId: 'consorzio-coeso' });
  t.other = await infra.token({ sub: 'legale-desk', role: 'partner', partnerId: 'sportello-legale' });
});

afterAll(async () => {
  for (const stop of stops) await stop();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

async function call(who: string, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, expected?: number) {
  const res = await app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: { authorization: `Bearer ${t[who]}` } });
  if (expected !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(expected);
  return res;
}

describe('the One Stop Shop path', () => {
  it('runs from registration to a completed service, refusing another partner at every partner step', async () => {
    for (const [partnerId, serviceId, domain] of [['consorzio-coeso', 'casa', 'housing'], ['sportello-legale', 'consulenza-legale', 'economic']]) {
      await call('admin', 'POST', '/partners', { partnerId, name: partnerId, sector: 'third_sector', services: [{ serviceId, name: serviceId, domain, capacity: 3 }] }, 201);
      await call('admin', 'POST', `/partners/${partnerId}/agreements`, { responseDays: 5 }, 201);
    }

    // a fiscal code with a wrong check character is refused
    await call('operator', 'POST', '/persons', { accessPoint: 'pistoia-centro-melos', municipality: 'Pistoia', givenName: 'Rosa', familyName: 'Esposito', birthDate: '1987-02-02', fiscalCode: 'SPSRSO87B42G713X' }, 422);
    const reg = await call('operator', 'POST', '/persons', { accessPoint: 'pistoia-centro-melos', municipality: 'Pistoia', givenName: 'Rosa', familyName: 'Esposito', birthDate: '1987-02-02' }, 201);
    const id = reg.json().personId as string;
    await call('operator', 'POST', `/persons/${id}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' }, 201);
    await call('operator', 'POST', `/persons/${id}/consents`, { scope: 'referral_sharing', legalBasis: 'explicit_consent' }, 201);

    const team = [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }];
    const assessmentId = await eventually(async () => {
      const r = await call('sw', 'POST', '/assessments', { personId: id, team });
      expect(r.statusCode, r.body).toBe(201);
      return r.json().assessmentId as string;
    });
    const levels = { economic: 2, employment: 1, education: 0, housing: 4, social_network: 1, health_care: 0, training: 0 };
    for (const [i, [domain, needLevel]] of Object.entries(levels).entries()) {
      await call(i % 2 ? 'eo' : 'sw', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel, ...(domain === 'housing' ? { notes: 'sfratto esecutivo a gennaio' } : {}) }, 200);
    }
    await call('sw', 'POST', `/assessments/${assessmentId}/completion`, { goals: [] }, 422); // housing is a priority domain: it needs a goal
    await call('sw', 'POST', `/assessments/${assessmentId}/completion`, { goals: [{ domain: 'housing', description: 'trovare un alloggio stabile', targetDate: '2027-06-30' }] }, 200);

    const referralId = await eventually(async () => {
      const r = await call('sw', 'POST', '/referrals', { personId: id, assessmentId, partnerId: 'consorzio-coeso', serviceId: 'casa', reason: 'supporto abitativo', priority: 'urgent' });
      expect(r.statusCode, r.body).toBe(201);
      return r.json().referralId as string;
    });

    // each partner step: the other partner gets 404 (as for a referral that does not exist), the addressed one succeeds
    let position = 0;
    for (const [step, body] of [['acceptance', { expectedStart: '2027-01-10' }], ['start', {}], ['completion', { outcome: 'achieved' }]] as const) {
      const refused = await call('other', 'POST', `/referrals/${referralId}/${step}`, body);
      expect(refused.statusCode, step).toBe(404);
      position = (await call('coeso', 'POST', `/referrals/${referralId}/${step}`, body, 200)).json().position;
    }
    // the referral is read from a view: `after` waits for the completion just recorded
    expect((await call('other', 'GET', `/referrals/${referralId}?after=${position}`)).statusCode).toBe(404);
    expect((await call('coeso', 'GET', `/referrals/${referralId}?after=${position}`, undefined, 200)).json()).toMatchObject({ status: 'completed', domain: 'housing' });

    // every stream of the case is intact, and nothing personal was stored in clear
    const log = await infra.store.readAll({ maxCount: 10_000 });
    const raw = JSON.stringify(log);
    for (const secret of ['Rosa', 'Esposito', 'sfratto', 'alloggio stabile', 'supporto abitativo']) expect(raw).not.toContain(secret);
    for (const stream of new Set(log.map((e) => e.subject))) expect((await infra.store.verifyStream(stream)).ok, stream).toBe(true);
    // the person's case stream opens and closes the assessment and the referral in the same appends
    expect(log.filter((e) => e.partitionKey === id).map((e) => e.type)).toEqual([
      'PersonRegistered', 'ConsentGiven', 'ConsentGiven', 'AssessmentStarted', 'CaseAssessmentOpened',
      ...Array(7).fill('DomainEvaluated'), 'AssessmentCompleted', 'CaseAssessmentClosed',
      'ReferredToPartner', 'CaseReferralOpened', 'ReferralAccepted', 'ServiceStarted', 'ServiceCompleted', 'CaseReferralClosed',
    ]);
    // the service's place was taken on acceptance and freed on completion, in the same appends
    expect(log.filter((e) => e.subject === 'places-consorzio-coeso.casa').map((e) => [e.type, e.data])).toEqual([
      ['PlaceTaken', { referralId, capacity: expect.any(Number) }],
      ['PlaceReleased', { referralId, status: 'completed' }],
    ]);
    expect(await infra.store.readCase(id)).toEqual(log.filter((e) => e.partitionKey === id));
  });
});

// README, "Repeating an action": an action repeated after it was done, or one
// whose outcome holds already, answers 200 with `recorded: false` and the
// stream's current revision, on every route, and stores nothing.
describe('repeating a finished action', () => {
  it('answers 200 recorded:false with the revision of the first answer, on every route, and stores nothing', async () => {
    const partnerId = 'repeat-casa-famiglia';
    await call('admin', 'POST', '/partners', { partnerId, name: 'Casa famiglia', sector: 'third_sector', services: [{ serviceId: 'casa', name: 'casa', domain: 'housing', capacity: 3 }] }, 201);
    const reg = await call('operator', 'POST', '/persons', { accessPoint: 'pistoia-centro-melos', municipality: 'Pistoia', givenName: 'Aldo', familyName: 'Bini', birthDate: '1970-05-05' }, 201);
    const personId = reg.json().personId as string;
    const team = [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }];
    t.casa = await infra.token({ sub: 'casa-desk', role: 'partner', partnerId });
    const ids: Record<string, string> = {};
    let repeated = 0;
    /** Does the action, then repeats it: the one documented answer. */
    const twice = async (label: string, who: string, url: string, body: object | undefined, first: number, stream: string) => {
      const a = await call(who, 'POST', url, body, first);
      expect(a.json(), label).toMatchObject({ recorded: true, position: expect.any(Number) });
      const b = await call(who, 'POST', url, body);
      expect(b.statusCode, `${label} repeated: ${b.body}`).toBe(200);
      expect(b.json(), label).toMatchObject({ recorded: false, revision: a.json().revision });
      expect(b.json(), label).not.toHaveProperty('position');
      expect((await infra.store.readStream(stream)).length - 1, label).toBe(a.json().revision);
      repeated++;
    };

    await twice('join the agreement', 'admin', `/partners/${partnerId}/agreements`, { responseDays: 5 }, 201, `partner-${partnerId}`);
    await twice('give a consent', 'operator', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' }, 201, `person-${personId}`);
    await twice('give the other consent', 'operator', `/persons/${personId}/consents`, { scope: 'referral_sharing', legalBasis: 'explicit_consent' }, 201, `person-${personId}`);
    ids.assessment = await eventually(async () => {
      const r = await call('sw', 'POST', '/assessments', { personId, team });
      expect(r.statusCode, r.body).toBe(201);
      return r.json().assessmentId as string;
    });
    for (const domain of ['economic', 'employment', 'education', 'housing', 'social_network', 'health_care', 'training']) {
      await call('sw', 'PUT', `/assessments/${ids.assessment}/domains/${domain}`, { needLevel: domain === 'housing' ? 3 : 0 }, 200);
    }
    const goals = [{ domain: 'housing', description: 'una casa', targetDate: '2027-06-30' }];
    await twice('complete the assessment', 'sw', `/assessments/${ids.assessment}/completion`, { goals }, 200, `assessment-${ids.assessment}`);
    const refer = () =>
      eventually(async () => {
        const r = await call('sw', 'POST', '/referrals', { personId, assessmentId: ids.assessment, partnerId, serviceId: 'casa', reason: 'casa', priority: 'routine' });
        expect(r.statusCode, r.body).toBe(201);
        return r.json().referralId as string;
      });
    ids.served = await refer();
    await twice('accept', 'casa', `/referrals/${ids.served}/acceptance`, { expectedStart: '2027-01-10' }, 200, `referral-${ids.served}`);
    await twice('start', 'casa', `/referrals/${ids.served}/start`, {}, 200, `referral-${ids.served}`);
    await twice('complete', 'casa', `/referrals/${ids.served}/completion`, { outcome: 'achieved' }, 200, `referral-${ids.served}`);
    // what a finished referral did before is a repeat too; a step it never took is refused
    expect((await call('casa', 'POST', `/referrals/${ids.served}/acceptance`, {}, 200)).json()).toMatchObject({ recorded: false });
    expect((await call('casa', 'POST', `/referrals/${ids.served}/decline`, { reason: 'other' }, 422)).json()).toMatchObject({ code: 'transition_refused' });
    // the same step with other data is refused: the first answer stands
    expect((await call('casa', 'POST', `/referrals/${ids.served}/completion`, { outcome: 'dropped_out' }, 409)).json()).toMatchObject({ code: 'done_otherwise', stands: { outcome: 'achieved' } });
    ids.declined = await refer();
    await twice('decline', 'casa', `/referrals/${ids.declined}/decline`, { reason: 'no_capacity' }, 200, `referral-${ids.declined}`);
    ids.cancelled = await refer();
    await twice('cancel', 'sw', `/referrals/${ids.cancelled}/cancellation`, { reason: 'team_decision' }, 200, `referral-${ids.cancelled}`);
    await twice('withdraw a consent', 'operator', `/persons/${personId}/consents/referral_sharing/withdrawal`, undefined, 200, `person-${personId}`);
    await twice('leave the agreement', 'admin', `/partners/${partnerId}/agreements/accordo-pistoia/leave`, undefined, 200, `partner-${partnerId}`);
    await twice('erase', 'admin', `/persons/${personId}/erasure`, { reason: 'data_subject_request' }, 200, `person-${personId}`);
    expect(repeated).toBe(12);
  });
});
