import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type Encrypted, type RawEnvelope } from '@onestop/events';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { parseMasterKeys, PersonDataErased, PersonKeyring, rotateMasterKey, type RotationProgress } from '../src/index.js';
import { openTestInfrastructure } from '../src/testing.js';

// Rotating the master key re-wraps every per-person data key and touches no
// event: the whole log (positions, hashes and all) is the same before and
// after, and everything still decrypts with only the new master key
// configured — except the data of erased persons, which stays unreadable.

const key = () => randomBytes(32).toString('base64');
const OLD = `old-1:${key()}`;
const NEW = `new-2:${key()}`;

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
const secrets = new Map<string, { enc: Encrypted; plain: string }>();
const erased = new Set<string>();

beforeAll(async () => {
  db = await createTestDatabase('rotation');
  infra = await openTestInfrastructure({ databaseUrl: db.url, env: { ONESTOP_MASTER_KEYS: OLD } });
  // 1 200 persons: more than one batch of the rotation (500)
  for (let i = 0; i < 1200; i++) {
    const personId = randomUUID();
    await infra.keyring.createKey(personId);
    const plain = `Persona ${i}, via della Vergine ${i}`;
    const enc = await infra.keyring.encrypt(personId, plain);
    secrets.set(personId, { enc, plain });
    if (i % 100 === 0) {
      const ctx = { source: '/onestop/intake', actor: { id: 'op-1', role: 'operator' as const }, correlationId: 'rotation', time: new Date().toISOString() };
      const event = createEvent('ContactDetailsUpdated', { pii: enc, updatedBy: 'op-1' }, `person-${personId}`, personId, ctx);
      await infra.store.append(`person-${personId}`, [event as RawEnvelope], 'any');
    }
    if (i % 250 === 7) {
      await infra.keyring.erase(personId);
      erased.add(personId);
    }
  }
}, 120_000);

afterAll(async () => {
  await infra?.close();
  await db?.drop();
});

/** The whole log, every column the port exposes (positions, hashes, data). */
const wholeLog = async () => {
  const streams = [...new Set((await infra.store.readAll({ maxCount: 100_000 })).map((e) => e.subject))].sort();
  return (await Promise.all(streams.map((s) => infra.store.readStream(s)))).flat();
};

describe('rotateMasterKey', () => {
  it('re-wraps every data key with the new master key, reporting progress, and changes no event', async () => {
    const before = await wholeLog();
    expect(before.length).toBeGreaterThan(10);
    const progress: RotationProgress[] = [];
    const report = await rotateMasterKey(infra.db, `${NEW},${OLD}`, { onProgress: (p) => progress.push(p) });

    expect(report).toEqual({ activeKid: 'new-2', rewrapped: 1200 - erased.size, alreadyActive: 0, erased: erased.size, remaining: 0 });
    expect(progress.map((p) => p.rewrapped)).toEqual([500, 1000, 1200 - erased.size]);
    expect(progress.every((p) => p.total === 1200 - erased.size)).toBe(true);
    expect(await wholeLog()).toEqual(before);
    for (const s of new Set(before.map((e) => e.subject))) expect(await infra.store.verifyStream(s)).toMatchObject({ ok: true });

    // running it again finds nothing to do
    expect(await rotateMasterKey(infra.db, `${NEW},${OLD}`)).toMatchObject({ rewrapped: 0, alreadyActive: 1200 - erased.size, remaining: 0 });
  });

  it('leaves everything readable with only the new master key configured; erased persons stay erased', async () => {
    const onlyNew = new PersonKeyring(infra.db, parseMasterKeys(NEW));
    for (const [personId, { enc, plain }] of secrets) {
      if (erased.has(personId)) await expect(onlyNew.decrypt(enc)).rejects.toBeInstanceOf(PersonDataErased);
      else expect(await onlyNew.decrypt(enc)).toBe(plain);
    }
    // and the old master key alone opens nothing any more
    const onlyOld = new PersonKeyring(infra.db, parseMasterKeys(OLD));
    const [someone] = [...secrets].find(([id]) => !erased.has(id))!;
    await expect(onlyOld.decrypt(secrets.get(someone)!.enc)).rejects.toThrow(/master key new-2 is not configured/);
  });

  it('refuses to run without the master key that wrapped a data key', async () => {
    const other = new PersonKeyring(infra.db, parseMasterKeys(`old-1:${key()}`));
    const personId = randomUUID();
    await other.createKey(personId);
    await expect(rotateMasterKey(infra.db, NEW)).rejects.toThrow(/master key old-1 is not configured/);
    await expect(rotateMasterKey(infra.db, `${NEW},${OLD}`)).rejects.toThrow(); // same kid, other key: the unwrap fails
  });
});
