import { validate } from '@readme/openapi-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '../src/app.js';
import { womanCode } from './fixtures.js';

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
const tokens: Record<string, string> = {};
let stopConsumers: (() => Promise<void>) | undefined;

beforeAll(async () => {
  db = await createTestDatabase('intake');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  const intake = intakeModule();
  await intake.migrate!(infra);
  app = await buildServiceApp({ title: intake.title, description: intake.description, modules: [intake], ctx: infra });
  await app.ready();
  stopConsumers = await intake.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.partner = await infra.token({ sub: 'p-1', role: 'partner', partnerId: 'caritas' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
});

afterAll(async () => {
  await stopConsumers?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, role: string | null, body?: unknown) =>
  app.inject({
    method,
    url,
    ...(body !== undefined ? { payload: body as object } : {}),
    headers: role ? { authorization: `Bearer ${tokens[role]}` } : {},
  });

const mario = {
  accessPoint: 'pistoia-centro',
  municipality: 'Pistoia',
  givenName: 'Mario',
  familyName: 'Rossi',
  birthDate: '1985-12-10',
  fiscalCode: 'RSSMRA85T10A562S',
  phone: '+39 0573 123456',
  email: 'mario.rossi@example.org',
};

describe('POST /persons', () => {
  it('registers a person (201) and stores no personal data in clear', async () => {
    const res = await call('POST', '/persons', 'operator', mario);
    expect(res.statusCode).toBe(201);
    const { personId, likelyDuplicates } = res.json();
    expect(likelyDuplicates).toEqual([]);
    expect(res.headers.location).toBe(`/persons/${personId}`);
    const [event] = await infra.store.readStream(`person-${personId}`);
    expect(event).toMatchObject({ type: 'PersonRegistered', partitionKey: personId, actor: { id: 'op-1', role: 'operator' } });
    const raw = JSON.stringify(event);
    for (const secret of ['Mario', 'Rossi', 'RSSMRA85T10A562S', '0573', 'example.org', '1985-12-10']) expect(raw).not.toContain(secret);
  });

  it('refuses the same fiscal code again (409) and names the existing person', async () => {
    const first = await call('POST', '/persons', 'operator', { ...mario, fiscalCode: womanCode('BNCLRA', '1990-03-15'), givenName: 'Laura', familyName: 'Bianchi', birthDate: '1990-03-15' });
    expect(first.statusCode).toBe(201);
    const again = await call('POST', '/persons', 'operator', { ...mario, fiscalCode: womanCode('BNCLRA', '1990-03-15').toLowerCase(), givenName: 'Laura', familyName: 'Bianchi', birthDate: '1990-03-15' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'duplicate_fiscal_code', existingPersonId: first.json().personId });
  });

  it('refuses two simultaneous registrations with one fiscal code: exactly one wins', async () => {
    const body = { ...mario, fiscalCode: womanCode('VRDGLI', '1977-07-07'), givenName: 'Giulia', familyName: 'Verdi', birthDate: '1977-07-07' };
    const results = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/persons', 'operator', body)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });

  it('reports likely duplicates (same normalised names and birth date) without refusing', async () => {
    const a = await call('POST', '/persons', 'operator', { accessPoint: 'pistoia-nord', municipality: 'Pistoia', givenName: 'Anna Maria', familyName: "D'Angelo", birthDate: '1960-01-02' });
    // the index is a view of the intake topic: the first registration is indexed a moment later
    await eventually(async () => {
      const rows = await infra.db.query('SELECT 1 FROM intake.duplicate_index WHERE person_id = $1', [a.json().personId]);
      expect(rows).toHaveLength(1);
    });
    const b = await call('POST', '/persons', 'operator', { accessPoint: 'capannori', municipality: 'Capannori', givenName: 'ANNA  MARÌA', familyName: 'd angelo', birthDate: '1960-01-02' });
    expect(b.statusCode).toBe(201);
    expect(b.json().likelyDuplicates).toEqual([a.json().personId]);
  });

  it('refuses an invalid fiscal code with 422 naming what is wrong', async () => {
    const res = await call('POST', '/persons', 'operator', { ...mario, fiscalCode: 'RSSMRA85T10A562X' });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'fiscal_code_invalid', fiscalCodeError: 'check_character' });
  });

  it('refuses bad bodies with 400 naming every field', async () => {
    const res = await call('POST', '/persons', 'operator', { ...mario, email: 'nope', birthDate: '10/12/1985', accessPoint: 'Not A Slug', extra: 1 });
    expect(res.statusCode).toBe(400);
    const paths = res.json().issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.email', 'body.birthDate', 'body.accessPoint']));
  });

  it('requires a token (401) of an operator or admin (403)', async () => {
    expect((await call('POST', '/persons', null, mario)).statusCode).toBe(401);
    for (const role of ['team', 'partner', 'auditor']) expect((await call('POST', '/persons', role, mario)).statusCode).toBe(403);
  });
});

describe('reading and finding a person', () => {
  let personId: string;
  beforeAll(async () => {
    const res = await call('POST', '/persons', 'operator', { ...mario, fiscalCode: womanCode('NREFNC', '1999-09-09'), givenName: 'Francesca', familyName: 'Neri', birthDate: '1999-09-09' });
    personId = res.json().personId;
  });

  it('returns the decrypted person to operators, team members and admins', async () => {
    for (const role of ['operator', 'team', 'admin']) {
      const res = await call('GET', `/persons/${personId}`, role);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ personId, status: 'registered', birthYear: 1999, personalData: { givenName: 'Francesca', familyName: 'Neri' } });
    }
    expect((await call('GET', `/persons/${personId}`, 'partner')).statusCode).toBe(403);
    expect((await call('GET', `/persons/${personId}`, 'auditor')).statusCode).toBe(403);
  });

  it('404 for an unknown person, 400 for a malformed id', async () => {
    expect((await call('GET', '/persons/3b0f0e3c-0000-4000-8000-000000000000', 'operator')).statusCode).toBe(404);
    expect((await call('GET', '/persons/not-a-uuid', 'operator')).statusCode).toBe(400);
  });

  it('finds a person by fiscal code (any spelling of it)', async () => {
    const code = womanCode('NREFNC', '1999-09-09');
    const res = await call('POST', '/persons/search', 'operator', { fiscalCode: code.toLowerCase() });
    expect(res.json()).toEqual({ persons: [expect.objectContaining({ personId, givenName: 'Francesca', familyName: 'Neri', birthDate: '1999-09-09' })], more: false });
    expect((await call('POST', '/persons/search', 'operator', { fiscalCode: womanCode('XXXYYY', '1999-09-09') })).json()).toEqual({ persons: [], more: false });
    const bad = await call('POST', '/persons/search', 'operator', { fiscalCode: 'RSSMRA85T10A562XYZ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body, 'the refusal does not repeat the fiscal code').not.toContain('RSSMRA85T10A562XYZ');
    expect((await call('POST', '/persons/search', 'operator', { fiscalCode: code, name: 'x' })).statusCode).toBe(400);
    // one way at a time: a fiscal code is not narrowed by a name
    expect((await call('POST', '/persons/search', 'operator', { fiscalCode: code, familyName: 'Neri' })).statusCode).toBe(400);
    // the look-up is not in the URL any more: the former GET is no route at all
    expect((await call('GET', `/persons?fiscalCode=${code}`, 'operator')).json()).toMatchObject({ status: 404, code: 'route_not_found' });
  });

  it('updates contact details and shows them', async () => {
    const res = await call('PUT', `/persons/${personId}/contact-details`, 'operator', { phone: '+39 333 1234567' });
    expect(res.statusCode).toBe(200);
    expect((await call('GET', `/persons/${personId}`, 'operator')).json().personalData.phone).toBe('+39 333 1234567');
    expect((await call('PUT', `/persons/${personId}/contact-details`, 'operator', {})).statusCode).toBe(400);
    expect((await call('PUT', `/persons/${personId}/contact-details`, 'team', { phone: '+39 333 1234567' })).statusCode).toBe(403);
  });
});

describe('searching by name and birth date', () => {
  const people = [
    { givenName: 'Anna Maria', familyName: "D'Àlessi", birthDate: '1970-03-15' },
    { givenName: 'Anna', familyName: 'Dalessini', birthDate: '1970-03-15' },
    { givenName: 'Paolo', familyName: "D'Alessi", birthDate: '1981-06-30' },
    { givenName: 'Zoë', familyName: 'Alessa-Ferri', birthDate: '1992-11-02' },
  ];
  const ids: Record<string, string> = {};
  const search = async (body: object) => {
    const res = await call('POST', '/persons/search', 'operator', body);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { persons: Array<{ personId: string; givenName: string; familyName: string }>; more: boolean };
  };
  const found = async (body: object) => (await search(body)).persons.map((p) => p.familyName + ' ' + p.givenName).sort();

  beforeAll(async () => {
    for (const p of people) {
      const { fiscalCode: _none, ...rest } = mario;
      ids[`${p.givenName} ${p.familyName}`] = (await call('POST', '/persons', 'operator', { ...rest, ...p })).json().personId;
    }
    // the index is a view fed by the bus
    await eventually(async () => expect(await found({ familyName: 'alessa' })).toHaveLength(1));
  });

  it('finds every person whose names begin with the words given, whatever the case and accents', async () => {
    expect(await found({ familyName: 'dales' })).toEqual(['Dalessini Anna']);
    expect(await found({ familyName: "d'ALESSI" })).toEqual(["D'Alessi Paolo", "D'Àlessi Anna Maria"]);
    expect(await found({ familyName: 'aless' })).toEqual(['Alessa-Ferri Zoë', "D'Alessi Paolo", "D'Àlessi Anna Maria"]);
    expect(await found({ familyName: 'fer', givenName: 'ZOE' })).toEqual(['Alessa-Ferri Zoë']);
    expect(await found({ givenName: 'mar an', familyName: 'd al' })).toEqual(["D'Àlessi Anna Maria"]);
    // a word that begins no name word finds nobody: every word must match
    expect(await found({ familyName: 'alessi', givenName: 'luigi' })).toEqual([]);
    // surname words are not given-name words
    expect(await found({ givenName: 'alessi' })).toEqual([]);
  });

  it('finds by birth date alone or narrows a name by it', async () => {
    expect(await found({ birthDate: '1970-03-15' })).toEqual(["D'Àlessi Anna Maria", 'Dalessini Anna']);
    expect(await found({ familyName: 'al', birthDate: '1970-03-15' })).toEqual(["D'Àlessi Anna Maria"]);
    expect(await found({ givenName: 'anna', birthDate: '1981-06-30' })).toEqual([]);
  });

  it('keeps no name or birth date in clear, and records every person it shows as a read', async () => {
    const rows = await infra.db.query<{ term: string }>('SELECT term FROM intake.search_terms');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.term))).toBe(true);
    const personId = ids["Paolo D'Alessi"]!;
    const reads = async () => (await infra.store.readStream(`audit-${personId}`)).filter((e) => e.type === 'CaseHistoryRead' && (e.data as { purpose: string }).purpose === 'search');
    const before = (await reads()).length;
    expect((await search({ givenName: 'paolo', familyName: 'd alessi' })).persons.map((p) => p.personId)).toEqual([personId]);
    const after = await reads();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ data: { personId, purpose: 'search', readBy: 'op-1' } });
    // nobody found, nobody read
    await search({ familyName: 'nessuno' });
    expect(await reads()).toHaveLength(before + 1);
  });

  it('finds an erased person no more: the digests are removed and nothing could be decrypted', async () => {
    const personId = ids['Zoë Alessa-Ferri']!;
    expect((await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' })).statusCode).toBe(200);
    // the person's own stream answers at once; the view drops its digests once it hears of the erasure
    expect(await found({ familyName: 'alessa f' })).toEqual([]);
    await eventually(async () => expect(await infra.db.query('SELECT 1 FROM intake.search_terms WHERE person_id = $1', [personId])).toEqual([]));
  });

  it('refuses what cannot be searched, and is for operators and admins only', async () => {
    for (const body of [{}, { familyName: '' }, { familyName: '李小龍' }, { birthDate: '15/03/1970' }, { familyName: 'x'.repeat(101) }, { name: 'anna' }]) {
      const res = await call('POST', '/persons/search', 'operator', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await call('POST', '/persons/search', 'admin', { familyName: 'dalessini' })).json().persons).toHaveLength(1);
    for (const role of ['team', 'partner', 'auditor']) expect((await call('POST', '/persons/search', role, { familyName: 'dalessini' })).statusCode).toBe(403);
  });
});

describe('consents', () => {
  let personId: string;
  beforeAll(async () => {
    personId = (await call('POST', '/persons', 'operator', { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Luca', familyName: 'Galli', birthDate: '1970-05-05' })).json().personId;
  });

  it('gives (201), repeats harmlessly (200) and withdraws (200) a consent', async () => {
    const give = await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
    expect(give.statusCode).toBe(201);
    expect(give.json()).toMatchObject({ recorded: true });
    const again = await call('POST', `/persons/${personId}/consents`, 'team', { scope: 'referral_sharing', legalBasis: 'explicit_consent' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ recorded: false });
    const view = (await call('GET', `/persons/${personId}`, 'operator')).json();
    expect(view.consents.referral_sharing).toMatchObject({ active: true });
    const w = await call('POST', `/persons/${personId}/consents/referral_sharing/withdrawal`, 'operator');
    expect(w.statusCode).toBe(200);
    expect((await call('GET', `/persons/${personId}`, 'operator')).json().consents.referral_sharing.active).toBe(false);
  });

  it('withdrawing a consent that is not active records nothing (200); 404 for an unknown person; 400 for an unknown scope', async () => {
    const none = await call('POST', `/persons/${personId}/consents/assessment/withdrawal`, 'operator');
    expect(none.statusCode).toBe(200);
    expect(none.json()).toMatchObject({ recorded: false });
    expect((await call('POST', '/persons/3b0f0e3c-0000-4000-8000-000000000000/consents', 'operator', { scope: 'assessment', legalBasis: 'explicit_consent' })).statusCode).toBe(404);
    expect((await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'marketing', legalBasis: 'explicit_consent' })).statusCode).toBe(400);
    expect((await call('POST', `/persons/${personId}/consents/marketing/withdrawal`, 'operator')).statusCode).toBe(400);
    expect((await call('POST', `/persons/${personId}/consents`, 'partner', { scope: 'assessment', legalBasis: 'explicit_consent' })).statusCode).toBe(403);
  });
});

describe('erasure', () => {
  it('destroys the key: the person shows as erased, the log stays and verifies, the fiscal code is free again', async () => {
    const body = { ...mario, fiscalCode: womanCode('CRSSLV', '1988-02-29'.replace('02-29', '02-28')), givenName: 'Silvia', familyName: 'Caruso', birthDate: '1988-02-28' };
    const personId = (await call('POST', '/persons', 'operator', body)).json().personId;
    expect((await call('POST', `/persons/${personId}/erasure`, 'operator', { reason: 'data_subject_request' })).statusCode).toBe(403);
    const res = await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' });
    expect(res.statusCode).toBe(200);
    const view = (await call('GET', `/persons/${personId}`, 'operator')).json();
    expect(view).toMatchObject({ status: 'erased', personalData: null });
    expect(await infra.keyring.isErased(personId)).toBe(true);
    expect(await infra.store.verifyStream(`person-${personId}`)).toMatchObject({ ok: true, events: 2 });
    // erasing again is harmless; changing an erased person is refused
    expect((await call('POST', `/persons/${personId}/erasure`, 'admin', { reason: 'data_subject_request' })).statusCode).toBe(200);
    expect((await call('PUT', `/persons/${personId}/contact-details`, 'operator', { phone: '+39 333 0000000' })).statusCode).toBe(422);
    expect((await call('POST', '/persons', 'operator', body)).statusCode).toBe(201);
  });
});

describe('OpenAPI', () => {
  it('intake publishes a valid OpenAPI 3.1 document listing its routes', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    const result = await validate(structuredClone(doc));
    expect(result.valid ? [] : result.errors).toEqual([]);
    // (the token revocation routes every service mounts, packages/kit/src/token-revocation.ts)
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/auth/revocations/subjects',
      '/auth/revocations/tokens',
      '/persons',
      '/persons/likely-duplicates',
      '/persons/search',
      '/persons/{personId}',
      '/persons/{personId}/consents',
      '/persons/{personId}/consents/{scope}/withdrawal',
      '/persons/{personId}/contact-details',
      '/persons/{personId}/erasure',
      '/persons/{personId}/export',
    ]);
  });
});
