import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventContext, type EventData, type EventType, type RawEnvelope } from '@onestop/events';
import { caseDecider, caseStream } from '@onestop/case';
import { loadAggregate } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { backfillReservations } from '../src/app.js';
import { placesDecider, placesStream } from '../src/domain/places.js';

// A store written by a version without reservation streams: an open
// assessment, referrals open and holding places, and closed ones. The
// backfill records what is open in the case and places streams, once.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;

beforeAll(async () => {
  db = await createTestDatabase('backfill');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
});

afterAll(async () => {
  await infra?.close();
  await db?.drop();
});

const ctx: EventContext = { source: '/onestop/test', actor: { id: 'legacy', role: 'system' }, correlationId: 'legacy', time: '2026-10-01T09:00:00.000Z' };
const enc = { alg: 'A256GCM' as const, kid: 'k', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };
async function legacy<T extends EventType>(stream: string, key: string, type: T, data: EventData<T>): Promise<void> {
  const head = (await infra.store.readStream(stream)).length - 1;
  await infra.store.append(stream, [createEvent(type, data, stream, key, ctx) as unknown as RawEnvelope], head < 0 ? 'no_stream' : head);
}

describe('backfilling the reservation streams of a store from before them', () => {
  it('records what legacy events left open, once; closed ones stay out', async () => {
    const person = randomUUID();
    const other = randomUUID();
    const open = randomUUID();
    const done = randomUUID();
    await legacy('partner-caritas', 'caritas', 'PartnerRegistered', {
      partnerId: 'caritas',
      name: 'Caritas',
      sector: 'third_sector',
      services: [{ serviceId: 'casa', name: 'Casa', domain: 'housing', capacity: 1 }],
    });
    await legacy(`assessment-${done}`, person, 'AssessmentStarted', { assessmentId: done, personId: person, team: [{ memberId: 'sw-1', role: 'social_worker' }] });
    await legacy(`assessment-${done}`, person, 'AssessmentCancelled', { reason: 'team_decision' });
    await legacy(`assessment-${open}`, person, 'AssessmentStarted', { assessmentId: open, personId: person, team: [{ memberId: 'sw-1', role: 'social_worker' }] });
    const referral = (id: string, personId: string) => ({
      referralId: id,
      personId,
      assessmentId: done,
      partnerId: 'caritas',
      serviceId: 'casa',
      domain: 'housing' as const,
      reason: enc,
      priority: 'routine' as const,
      respondBy: '2026-10-06T09:00:00.000Z',
      referredBy: 'sw-1',
      consentEventId: randomUUID(),
    });
    const [accepted, requested, declined, overbooked] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await legacy(`referral-${accepted}`, person, 'ReferredToPartner', referral(accepted, person));
    await legacy(`referral-${accepted}`, person, 'ReferralAccepted', {});
    await legacy(`referral-${requested}`, other, 'ReferredToPartner', referral(requested, other));
    await legacy(`referral-${declined}`, other, 'ReferredToPartner', { ...referral(declined, other), serviceId: 'casa' });
    await legacy(`referral-${declined}`, other, 'ReferralDeclined', { reason: 'no_capacity' });
    // the old in-process lock let two processes overbook the one place: both stay recorded
    const third = randomUUID();
    await legacy(`referral-${overbooked}`, third, 'ReferredToPartner', referral(overbooked, third));
    await legacy(`referral-${overbooked}`, third, 'ReferralAccepted', {});

    const report = await backfillReservations(infra);
    expect(report).toMatchObject({ cases: 3, places: 1, skipped: [] });

    const kase = (await loadAggregate(infra.store, caseStream(person), caseDecider)).state;
    expect(kase).toMatchObject({ openAssessment: open, openReferrals: { [accepted]: { partnerId: 'caritas', serviceId: 'casa' } } });
    const others = (await loadAggregate(infra.store, caseStream(other), caseDecider)).state;
    expect(others.openReferrals).toEqual({ [requested]: { partnerId: 'caritas', serviceId: 'casa' } });
    const places = (await loadAggregate(infra.store, placesStream('caritas', 'casa'), placesDecider)).state;
    expect(places.taken.sort()).toEqual([accepted, overbooked].sort());

    // once per store: a second start-up finds it done and appends nothing
    const before = await infra.store.headPosition();
    expect(await backfillReservations(infra)).toBeUndefined();
    expect(await infra.store.headPosition()).toBe(before);
  });

  it('never opens what a live command closed meanwhile (the close of an assessment the case never knew is recorded)', async () => {
    const person = randomUUID();
    const legacyOpen = randomUUID();
    await legacy(`assessment-${legacyOpen}`, person, 'AssessmentStarted', { assessmentId: legacyOpen, personId: person, team: [{ memberId: 'sw-1', role: 'social_worker' }] });
    // between the backfill's read of the log and its append, a live completion recorded the close in the case
    await legacy(`case-${person}`, person, 'CaseAssessmentClosed', { assessmentId: legacyOpen, status: 'completed' });
    await infra.db.query(`DELETE FROM eventstore.checkpoints WHERE name = 'migration:reservations-v1'`);
    await backfillReservations(infra);
    const kase = (await loadAggregate(infra.store, caseStream(person), caseDecider)).state;
    expect(kase.openAssessment).toBeNull();
    expect((await infra.store.readStream(caseStream(person))).map((e) => e.type)).toEqual(['CaseAssessmentClosed']);
  });
});
