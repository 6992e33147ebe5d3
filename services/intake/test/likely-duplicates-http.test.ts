import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '../src/app.js';
import { womanCode } from './fixtures.js';

// POST /persons/likely-duplicates: the registration being typed, checked
// against the whole register (not the latest registrations), on PostgreSQL and
// on the embedded PGlite of `npm start`. It answers ids, reasons and where and
// when each person was registered: no personal data, and no read recorded.

const TARGET = { givenName: 'Mariagrazia', familyName: 'Rossellini', birthDate: '1985-12-10', fiscalCode: womanCode('RSSMGR', '1985-12-10') };
/** More registrations after the target than the console's former look-back of 50. */
const LATER = 60;

describe.each(['postgres', 'pglite'] as const)('likely duplicates of a registration being typed (%s)', (mode) => {
  let db: TestDatabase | undefined;
  let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
  let app: FastifyInstance;
  let stop: (() => Promise<void>) | undefined;
  const tokens: Record<string, string> = {};
  let target = '';
  let twin = '';

  const call = (body: unknown, role: string | null = 'operator') =>
    app.inject({ method: 'POST', url: '/persons/likely-duplicates', payload: body as object, headers: role ? { authorization: `Bearer ${tokens[role]}` } : {} });
  const matches = async (body: object) => {
    const res = await call(body);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { matches: Array<{ personId: string; reasons: string[]; accessPoint: string; registeredOn: string }>; more: boolean };
  };
  const register = async (body: object) => {
    const res = await app.inject({ method: 'POST', url: '/persons', payload: { accessPoint: 'pistoia-nord', municipality: 'Pistoia', ...body }, headers: { authorization: `Bearer ${tokens.operator}` } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().personId as string;
  };
  const reads = async () => Number((await infra.db.query<{ n: string }>("SELECT count(*) AS n FROM eventstore.events WHERE event_type = 'CaseHistoryRead'"))[0]!.n);

  beforeAll(async () => {
    db = mode === 'postgres' ? await createTestDatabase('intake_dups') : undefined;
    infra = await openTestInfrastructure(db ? { databaseUrl: db.url } : {});
    const intake = intakeModule();
    await intake.migrate!(infra);
    app = await buildServiceApp({ title: intake.title, description: intake.description, modules: [intake], ctx: infra });
    await app.ready();
    stop = await intake.start!(infra);
    for (const [role, extra] of [['operator', {}], ['team', { teamRole: 'social_worker' }], ['partner', { partnerId: 'caritas' }], ['auditor', {}], ['admin', {}]] as const) {
      tokens[role] = await infra.token({ sub: `${role}-1`, role, ...extra });
    }
    target = await register({ ...TARGET, accessPoint: 'quarrata' });
    // a twin sister: same surname and birth date, another given name
    twin = await register({ givenName: 'Lucia', familyName: 'Rossellini', birthDate: '1985-12-10' });
    for (let i = 0; i < LATER; i++) await register({ givenName: `Persona${String.fromCharCode(97 + (i % 26))}`, familyName: `Recente ${i}`, birthDate: `19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}` });
    // the name indexes are views fed by the bus: every registration is in them a moment later
    await eventually(async () => {
      const [row] = await infra.db.query<{ n: string }>('SELECT count(*) AS n FROM intake.duplicate_index');
      expect(Number(row!.n)).toBe(LATER + 2);
      expect(await infra.db.query('SELECT 1 FROM intake.search_terms GROUP BY person_id')).toHaveLength(LATER + 2);
    });
  }, 120_000);

  afterAll(async () => {
    await stop?.();
    await app?.close();
    await infra?.close();
    await db?.drop();
  });

  it('finds the same fiscal code among the whole register, in any spelling, however many registered since', async () => {
    const recent = await infra.db.query<{ person_id: string }>('SELECT person_id FROM intake.search_terms GROUP BY person_id ORDER BY max(position) DESC LIMIT 50');
    expect(recent.map((r) => r.person_id), 'the person is older than the 50 latest registrations').not.toContain(target);
    const res = await matches({ fiscalCode: TARGET.fiscalCode.toLowerCase() });
    expect(res).toEqual({ matches: [{ personId: target, reasons: ['fiscal_code'], accessPoint: 'quarrata', registeredOn: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) }], more: false });
    // the whole draft: one person, every reason it was found for
    expect((await matches(TARGET)).matches.filter((m) => m.personId === target)).toEqual([expect.objectContaining({ reasons: ['fiscal_code', 'name_and_birth_date'] })]);
    expect((await matches({ fiscalCode: womanCode('XXXYYY', '1985-12-10') })).matches).toEqual([]);
  });

  it('finds the same names and birth date, whatever the order, case and accents', async () => {
    const res = await matches({ givenName: 'ROSSELLINI', familyName: 'Mariagràzia', birthDate: '1985-12-10' });
    expect(res.matches).toEqual([expect.objectContaining({ personId: target, reasons: ['name_and_birth_date'] })]);
  });

  it('finds the same names with a birth date one slip away or day and month swapped, and the same surname and birth date (a twin)', async () => {
    for (const birthDate of ['1985-10-12', '1985-12-11', '1985-01-01']) {
      expect((await matches({ givenName: 'Mariagrazia', familyName: 'Rossellini', birthDate })).matches, birthDate).toEqual([
        expect.objectContaining({ personId: target, reasons: ['name_and_close_birth_date'] }),
      ]);
    }
    const spelt = await matches({ givenName: 'Maria Grazia', familyName: 'Rossellini', birthDate: '1985-12-10' });
    expect(new Map(spelt.matches.map((m) => [m.personId, m.reasons]))).toEqual(
      new Map([
        [target, ['family_name_and_birth_date']],
        [twin, ['family_name_and_birth_date']],
      ]),
    );
    expect((await matches({ givenName: 'Mariagrazia', familyName: 'Rossi', birthDate: '1985-12-10' })).matches).toEqual([expect.objectContaining({ personId: target, reasons: ['given_name_and_birth_date'] })]);
    // names alone, or another birth date far off: nobody
    expect((await matches({ givenName: 'Mariagrazia', familyName: 'Rossellini', birthDate: '1990-06-21' })).matches).toEqual([]);
  });

  it('answers no personal data and records no read; opening one is one recorded read', async () => {
    const before = await reads();
    const res = await call(TARGET);
    expect(res.statusCode).toBe(200);
    for (const secret of ['Mariagrazia', 'Rossellini', TARGET.fiscalCode, TARGET.birthDate, 'Pistoia', 'Lucia']) expect(res.body).not.toContain(secret);
    for (const m of res.json().matches) expect(Object.keys(m).sort()).toEqual(['accessPoint', 'personId', 'reasons', 'registeredOn']);
    expect(await reads(), 'a list of ids and reasons is no read').toBe(before);
    const open = await app.inject({ method: 'GET', url: `/persons/${target}`, headers: { authorization: `Bearer ${tokens.operator}` } });
    expect(open.json().personalData).toMatchObject({ givenName: 'Mariagrazia' });
    expect(await reads()).toBe(before + 1);
    const [read] = (await infra.store.readStream(`audit-${target}`)).slice(-1);
    expect(read).toMatchObject({ type: 'CaseHistoryRead', data: { personId: target, purpose: 'case_view', readBy: 'operator-1' } });
  });

  it('refuses bad drafts with 400 problem+json that repeats none of them', async () => {
    for (const body of [
      {},
      { givenName: 'Mariagrazia', familyName: 'Rossellini' },
      { birthDate: '1985-12-10' },
      { fiscalCode: 'RSSMGR85T50G713X' },
      { familyName: 'Rossellini', birthDate: '10/12/1985' },
      { familyName: 'Rossellini', birthDate: '1899-12-10' },
      { familyName: 'R'.repeat(201), birthDate: '1985-12-10' },
      { ...TARGET, phone: '+39 0573 918273' },
    ]) {
      const res = await call(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      for (const value of Object.values(body)) expect(res.body).not.toContain(value);
    }
  });

  it('is the operator’s alone', async () => {
    expect((await call(TARGET, null)).statusCode).toBe(401);
    for (const role of ['team', 'partner', 'auditor', 'admin']) expect((await call(TARGET, role)).statusCode, role).toBe(403);
  });

  it('lists an erased person no more', async () => {
    const erased = await register({ givenName: 'Zelinda', familyName: 'Bracciolini', birthDate: '1944-04-04' });
    await eventually(async () => expect((await matches({ givenName: 'Zelinda', familyName: 'Bracciolini', birthDate: '1944-04-04' })).matches).toHaveLength(1));
    const res = await app.inject({ method: 'POST', url: `/persons/${erased}/erasure`, payload: { reason: 'data_subject_request' }, headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(res.statusCode).toBe(200);
    // at once, from the person's own stream, even before the indexes hear of the erasure
    expect((await matches({ givenName: 'Zelinda', familyName: 'Bracciolini', birthDate: '1944-04-04' })).matches).toEqual([]);
  });
});
