import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventContext, type RawEnvelope } from '@onestop/events';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { intakeModule } from '../src/app.js';
import { ERASED } from '../src/subject-access.js';

// Contact details reach a partner only through an audited read (DESIGN §5, §6):
// the partner must hold an open referral of the person, the referral_sharing
// consent must be active in intake's own aggregate, and the disclosure is
// recorded with the consent and the referral that allow it before the answer.
// Referral events are appended here as the referral service records them.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let stop: () => Promise<void>;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase('disclosure');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  const intake = intakeModule();
  await intake.migrate!(infra);
  app = await buildServiceApp({ title: intake.title, description: intake.description, modules: [intake], ctx: infra });
  await app.ready();
  stop = await intake.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  tokens.coeso = await infra.token({ sub: 'coeso-desk', role: 'partner', partnerId: 'consorzio-coeso' });
  tokens.legale = await infra.token({ sub: 'legale-desk', role: 'partner', partnerId: 'sportello-legale' });
});

afterAll(async () => {
  await stop?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, who: string | null, body?: unknown) =>
  app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: who ? { authorization: `Bearer ${tokens[who]}` } : {} });

async function person(consent = true): Promise<string> {
  const res = await call('POST', '/persons', 'operator', {
    accessPoint: 'pistoia-centro',
    municipality: 'Pistoia',
    givenName: 'Rosa',
    familyName: 'Esposito',
    birthDate: '1987-02-02',
    phone: '+39 0573 555111',
    email: 'rosa@example.org',
  });
  expect(res.statusCode, res.body).toBe(201);
  const personId = res.json().personId as string;
  if (consent) await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
  return personId;
}

const referralCtx = (): EventContext => ({
  source: '/onestop/referral',
  actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' },
  correlationId: 'test',
  time: new Date().toISOString(),
});

/** A referral as the referral service records it (intake's view hears of it through the bus). */
async function refer(personId: string, partnerId: string): Promise<string> {
  const referralId = randomUUID();
  const consentEventId = (await call('GET', `/persons/${personId}`, 'operator')).json().consents.referral_sharing.eventId as string;
  const event = createEvent(
    'ReferredToPartner',
    {
      referralId,
      personId,
      assessmentId: randomUUID(),
      partnerId,
      serviceId: 'casa',
      domain: 'housing',
      reason: await infra.keyring.encrypt(personId, 'sfratto esecutivo'),
      priority: 'routine',
      respondBy: '2030-01-01T00:00:00.000Z',
      referredBy: 'sw-1',
      consentEventId,
    },
    `referral-${referralId}`,
    personId,
    referralCtx(),
  );
  await infra.store.append(`referral-${referralId}`, [event as RawEnvelope], 'no_stream');
  return referralId;
}

async function answer(referralId: string, personId: string, type: 'ReferralDeclined' | 'ReferralCancelled'): Promise<void> {
  const stream = `referral-${referralId}`;
  const revision = (await infra.store.readStream(stream)).length - 1;
  const event =
    type === 'ReferralDeclined'
      ? createEvent('ReferralDeclined', { reason: 'no_capacity' }, stream, personId, referralCtx())
      : createEvent('ReferralCancelled', { reason: 'team_decision' }, stream, personId, referralCtx());
  await infra.store.append(stream, [event as RawEnvelope], revision);
}

/**
 * Events stored, counted in the table itself: the store's gap-safe head lags
 * while any transaction of the (shared) test server runs.
 */
const stored = async () => Number((await infra.db.query<{ n: string }>('SELECT count(*) AS n FROM eventstore.events'))[0]!.n);

/** The disclosures to partners recorded for a person (the operator's own reads are recorded too, as `case_view`). */
const audits = async (personId: string) =>
  (await infra.store.readStream(`audit-${personId}`)).filter((e) => e.type === 'CaseHistoryRead' && (e.data as { purpose: string }).purpose !== 'case_view');

describe('GET /persons/:personId/contact-details', () => {
  it('discloses contact details to the partner of an open referral, recording consent and referral first', async () => {
    const personId = await person();
    const consentEventId = (await call('GET', `/persons/${personId}`, 'operator')).json().consents.referral_sharing.eventId;
    const referralId = await refer(personId, 'consorzio-coeso');
    const res = await eventually(async () => {
      const r = await call('GET', `/persons/${personId}/contact-details`, 'coeso');
      expect(r.statusCode, r.body).toBe(200);
      return r;
    });
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ personId, givenName: 'Rosa', familyName: 'Esposito', phone: '+39 0573 555111', email: 'rosa@example.org', referralId, consentEventId });
    expect(body).not.toHaveProperty('birthDate');
    expect(body).not.toHaveProperty('fiscalCode');

    const [read] = await audits(personId);
    expect(read).toMatchObject({
      id: body.disclosureId,
      subject: `audit-${personId}`,
      partitionKey: personId,
      source: '/onestop/intake',
      actor: { id: 'coeso-desk', role: 'partner', partnerId: 'consorzio-coeso' },
      data: { personId, purpose: 'contact_details', readBy: 'coeso-desk', consentEventId, referralId },
    });
  });

  it('refuses a partner without an open referral of the person with 403, and records nothing', async () => {
    const personId = await person();
    const referralId = await refer(personId, 'consorzio-coeso');
    const before = await stored();
    for (const url of [`/persons/${personId}/contact-details`, `/persons/${randomUUID()}/contact-details`]) {
      const res = await call('GET', url, 'legale');
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'no_open_referral' });
    }
    expect(await stored()).toBe(before);

    // a declined referral is closed: no more disclosure
    await eventually(async () => expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).statusCode).toBe(200));
    await answer(referralId, personId, 'ReferralDeclined');
    await eventually(async () => expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).statusCode).toBe(403));
  });

  it('blocks the very next read once the referral_sharing consent is withdrawn (422), with no bus lag, for good', async () => {
    const personId = await person();
    await refer(personId, 'consorzio-coeso');
    await eventually(async () => expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).statusCode).toBe(200));
    expect((await call('POST', `/persons/${personId}/consents/referral_sharing/withdrawal`, 'operator')).statusCode).toBe(200);
    const before = (await audits(personId)).length;
    const res = await call('GET', `/persons/${personId}/contact-details`, 'coeso');
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'referral_consent_missing', scope: 'referral_sharing' });
    expect(await audits(personId)).toHaveLength(before);

    // consent given again covers new referrals, not the one shared under the withdrawn consent
    await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
    expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).json()).toMatchObject({ status: 422, code: 'referral_consent_missing' });
    const renewed = (await call('GET', `/persons/${personId}`, 'operator')).json().consents.referral_sharing.eventId;
    const referralId = await refer(personId, 'consorzio-coeso');
    const disclosed = await eventually(async () => {
      const r = await call('GET', `/persons/${personId}/contact-details`, 'coeso');
      expect(r.json()).toMatchObject({ referralId });
      return r;
    });
    expect(disclosed.json().consentEventId).toBe(renewed);
  });

  it('refuses once the personal data is erased (422 personal_data_erased), disclosing nothing', async () => {
    const personId = await person();
    await refer(personId, 'consorzio-coeso');
    await eventually(async () => expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).statusCode).toBe(200));
    expect((await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' })).statusCode).toBe(200);
    const res = await call('GET', `/persons/${personId}/contact-details`, 'coeso');
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'personal_data_erased' });
    expect(res.body).not.toContain('Rosa');
  });

  it('is for partners only: other roles are refused (403)', async () => {
    const personId = await person();
    for (const who of ['operator', 'team', 'auditor', 'admin']) {
      expect((await call('GET', `/persons/${personId}/contact-details`, who)).statusCode, who).toBe(403);
    }
  });
});

describe('GET /persons/:personId/export', () => {
  it('exports everything held, decrypted, records the export, and shows it all as erased after erasure', async () => {
    const personId = await person();
    await call('PUT', `/persons/${personId}/contact-details`, 'operator', { address: 'Via Roma 1, Pistoia' });
    const referralId = await refer(personId, 'consorzio-coeso');
    await eventually(async () => expect((await call('GET', `/persons/${personId}/contact-details`, 'coeso')).statusCode).toBe(200));

    const res = await call('GET', `/persons/${personId}/export`, 'admin');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const out = res.json();
    expect(out).toMatchObject({
      personId,
      status: 'registered',
      registration: { accessPoint: 'pistoia-centro', municipality: 'Pistoia', birthYear: 1987, registeredBy: 'op-1' },
      personalData: { givenName: 'Rosa', familyName: 'Esposito', birthDate: '1987-02-02', phone: '+39 0573 555111', address: 'Via Roma 1, Pistoia' },
      contactHistory: [{ updatedBy: 'op-1', details: { address: 'Via Roma 1, Pistoia' } }],
      consents: [{ action: 'given', scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1' }],
      referrals: [{ referralId, partnerId: 'consorzio-coeso', status: 'requested', reason: 'sfratto esecutivo' }],
      disclosures: expect.arrayContaining([expect.objectContaining({ purpose: 'contact_details', readBy: 'coeso-desk', role: 'partner', partnerId: 'consorzio-coeso', referralId })]),
      erasure: null,
    });
    expect(out.streams.map((s: { streamId: string }) => s.streamId).sort()).toEqual([`audit-${personId}`, `person-${personId}`, `referral-${referralId}`].sort());
    // the export is itself recorded
    expect((await audits(personId)).map((e) => (e.data as { purpose: string }).purpose)).toContain('subject_access');

    const log = await infra.store.readAll({ maxCount: 100_000 });
    expect((await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' })).statusCode).toBe(200);
    const erased = (await call('GET', `/persons/${personId}/export`, 'admin')).json();
    expect(erased).toMatchObject({
      status: 'erased',
      personalData: null,
      contactHistory: [{ details: null }],
      referrals: [{ referralId, reason: ERASED }],
      erasure: { requestedBy: 'admin-1', reason: 'data_subject_request' },
    });
    expect(JSON.stringify(erased)).not.toMatch(/Rosa|Esposito|Via Roma|sfratto|0573/);
    // nothing that was stored changed, and every chain of the person still verifies
    expect((await infra.store.readAll({ maxCount: 100_000 })).slice(0, log.length)).toEqual(log);
    for (const s of erased.streams) expect(await infra.store.verifyStream(s.streamId), s.streamId).toMatchObject({ ok: true });
  });

  it('is for admins; 404 for an unknown person, recording nothing', async () => {
    const personId = await person(false);
    for (const who of ['operator', 'team', 'auditor', 'coeso']) expect((await call('GET', `/persons/${personId}/export`, who)).statusCode, who).toBe(403);
    const before = await stored();
    expect((await call('GET', `/persons/${randomUUID()}/export`, 'admin')).statusCode).toBe(404);
    expect(await stored()).toBe(before);
  });
});
