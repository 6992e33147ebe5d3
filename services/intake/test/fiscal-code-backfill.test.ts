import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type RawEnvelope } from '@onestop/events';
import { blindIndex, buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { intakeModule } from '../src/app.js';
import { decodeOmocode } from '../src/domain/fiscal-code.js';
import { samplePii } from './fixtures.js';

// A store of an earlier version kept one person per fiscal code in a claim
// table. Its claims become reservation streams before the table goes, so a
// person registered then still holds their fiscal code.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance | undefined;

beforeAll(async () => {
  db = await createTestDatabase('fcbackfill');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
  await db?.drop();
});

describe('fiscal-code claims of an earlier version', () => {
  it('become reservations at start-up; a second registration with the code is refused, naming the person', async () => {
    const code = 'RSSMRA85T10A562S';
    const personId = randomUUID();
    const ctx = { source: '/onestop/intake', actor: { id: 'op-1', role: 'operator' as const }, correlationId: 'legacy', time: '2026-10-01T09:00:00.000Z' };
    const registered = createEvent('PersonRegistered', { personId, accessPoint: 'pistoia-centro', registeredBy: 'op-1', pii: samplePii, municipality: 'Pistoia', birthYear: 1985 }, `person-${personId}`, personId, ctx);
    await infra.store.append(`person-${personId}`, [registered as unknown as RawEnvelope], 'no_stream');
    // the table of the earlier version, with the claim of that person and a stale one whose registration never happened
    await infra.db.query('CREATE SCHEMA IF NOT EXISTS intake');
    await infra.db.query('CREATE TABLE intake.fiscal_code_claims (digest text PRIMARY KEY, person_id uuid NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now())');
    const digest = blindIndex(infra.indexKey, decodeOmocode(code));
    await infra.db.query('INSERT INTO intake.fiscal_code_claims (digest, person_id) VALUES ($1, $2), ($3, $4)', [digest, personId, 'stale-digest', randomUUID()]);

    const intake = intakeModule();
    await intake.migrate!(infra);
    const [table] = await infra.db.query<{ present: boolean }>(`SELECT to_regclass('intake.fiscal_code_claims') IS NOT NULL AS present`);
    expect(table!.present).toBe(false);
    expect((await infra.store.readStream(`fiscalcode-${digest}`)).map((e) => [e.type, e.data])).toEqual([['FiscalCodeReserved', { personId }]]);
    expect(await infra.store.readStream('fiscalcode-stale-digest')).toEqual([]);

    app = await buildServiceApp({ title: 'intake', description: 'test', modules: [intake], ctx: infra });
    const token = await infra.token({ sub: 'op-2', role: 'operator' });
    const res = await app.inject({
      method: 'POST',
      url: '/persons',
      headers: { authorization: `Bearer ${token}` },
      payload: { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Mario', familyName: 'Rossi', birthDate: '1985-12-10', fiscalCode: code },
    });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'duplicate_fiscal_code', existingPersonId: personId });
    // a second start-up finds no table and reserves nothing again
    await intake.migrate!(infra);
    expect(await infra.store.readStream(`fiscalcode-${digest}`)).toHaveLength(1);
  });
});
