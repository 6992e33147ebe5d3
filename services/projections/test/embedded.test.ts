import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { generateKeyPairSync } from 'node:crypto';
import { AuditSigningKey, projectionsModule, verifyDigest, type Projections } from '../src/app.js';
import { appendScenario, caughtUp, type Scenario } from './scenario.js';

// The same read models on the embedded default of `npm start` (PGlite, one
// connection, the embedded bus): the SQL, the consumer and the rebuild's swap.

let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let projections: Projections;
let stop: () => Promise<void>;
let scenario: Scenario;
const module = projectionsModule({ signingKey: new AuditSigningKey(generateKeyPairSync('ed25519').privateKey) });

beforeAll(async () => {
  infra = await openTestInfrastructure();
  await module.migrate!(infra);
  projections = module.projections(infra);
  stop = await module.start!(infra);
  scenario = await appendScenario(infra.store);
  await caughtUp(infra.store, () => projections.lag(), scenario.lastPosition);
});

afterAll(async () => {
  await stop?.();
  await infra?.close();
});

describe('on PGlite', () => {
  it('projects the scenario and rebuilds to the same read models', async () => {
    expect(await projections.readModels.funnel()).toEqual({ referred: 8, accepted: 4, started: 4, completed: 3, declined: 2, cancelled: 1, open: 2 });
    const caritas = (await projections.readModels.partnerStatistics()).find((p) => p.partnerId === 'caritas');
    expect(caritas).toMatchObject({ received: 6, medianHoursToAnswer: 30, medianHoursToStart: 72 });
    const before = await projections.readModels.dump();
    const report = await projections.rebuild();
    expect(report.events).toBe(scenario.events);
    expect(await projections.readModels.dump()).toEqual(before);
  });

  it('replays a case as of an instant and signs a digest', async () => {
    const asOf = await projections.cases.asOf(scenario.persons.D, new Date('2026-03-03T09:00:00Z'));
    expect(asOf.person.consents.referral_sharing).toEqual({ active: true, eventId: scenario.consentOfD });
    const digest = await projections.digest();
    expect(verifyDigest(digest, projections.signingKey().publicKey, await infra.store.streamHeads(digest.position))).toEqual({ ok: true });
    expect(await projections.verifyAll()).toMatchObject({ ok: true, broken: [] });
  });
});
