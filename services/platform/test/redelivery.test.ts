import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import {
  command,
  commandWhenKnown,
  completedAssessment,
  eventCounts,
  expectStatus,
  notYetKnown,
  partnerInAgreement,
  referral,
  registeredPerson,
  roleTokens,
  startTopology,
  TEAM,
  type RoleTokens,
  type Topology,
} from './topology.js';

// DESIGN §9: "A consumer must give the same effects whatever the delivery:
// duplicates, redelivery from the start, and any interleaving across streams."
// One process per service on PostgreSQL and Kafka. A scenario with consents
// withdrawn and given again, then assessments and referrals made after that;
// every read model and view is dumped; every process stops; every consumer
// group of the run is reset to the earliest offset of every topic it consumed;
// the processes start again and deliver the whole log a second time. Nothing
// may be cancelled by the old withdrawals, and every table must be as before.

const PARTNER = 'coop-casa';
const SERVICE = { serviceId: 'sportello-casa', domain: 'housing', capacity: 100 };

let t: Topology;
let tk: RoleTokens;

beforeAll(async () => {
  t = await startTopology({ label: 'redelivery', ownKafkaPort: process.env.ONESTOP_REDELIVERY_KAFKA_PORT ?? '19892', replicas: { intake: 1, assessment: 1, referral: 1, projections: 1 } });
  tk = await roleTokens(t, [PARTNER]);
  await partnerInAgreement(t, tk, PARTNER, [SERVICE], 5);
}, 300_000);

afterAll(async () => {
  await t?.close();
}, 120_000);

const is2xx = (s: number) => s >= 200 && s < 300;
const withdraw = async (personId: string, scope: string) =>
  expectStatus(await command(t, 'intake', 'POST', `/persons/${personId}/consents/${scope}/withdrawal`, tk.operator, undefined), is2xx, `withdraw ${scope}`);
const give = async (personId: string, scope: string) =>
  expectStatus(await command(t, 'intake', 'POST', `/persons/${personId}/consents`, tk.operator, { scope, legalBasis: 'explicit_consent' }), (s) => s === 201, `give ${scope}`);
const cancelledCounts = async () => {
  const c = await eventCounts(t);
  return { ReferralCancelled: c.ReferralCancelled ?? 0, AssessmentCancelled: c.AssessmentCancelled ?? 0 };
};

describe('redelivery from the earliest offset', () => {
  it('after withdraw → give again → assess → refer, a reset of every consumer group cancels nothing and leaves every read model as it was', async () => {
    // C: cancellations that are due (a referral and an open assessment when consent is withdrawn)
    const c = await registeredPerson(t, tk);
    const cAssessment = await completedAssessment(t, tk, c);
    const cReferral = await referral(t, tk, { personId: c, assessmentId: cAssessment, partnerId: PARTNER, serviceId: SERVICE.serviceId });
    expect(cReferral.status, JSON.stringify(cReferral.body)).toBe(201);
    const cOpen = await commandWhenKnown(t, 'assessment', 'POST', '/assessments', tk.sw, { personId: c, team: TEAM }, notYetKnown);
    expect(cOpen.status, JSON.stringify(cOpen.body)).toBe(201);
    await withdraw(c, 'referral_sharing');
    await withdraw(c, 'assessment');
    await eventually(async () => expect(await cancelledCounts()).toEqual({ ReferralCancelled: 1, AssessmentCancelled: 1 }), 60_000, 250);

    // A: both consents withdrawn and given again, then assessed and referred
    const a = await registeredPerson(t, tk);
    await withdraw(a, 'referral_sharing');
    await give(a, 'referral_sharing');
    await withdraw(a, 'assessment');
    await give(a, 'assessment');
    // B: the assessment consent withdrawn and given again, then an assessment left open
    const b = await registeredPerson(t, tk);
    await withdraw(b, 'assessment');
    await give(b, 'assessment');
    // every service has heard of the consents given again before anything is started
    await t.quiescent(120_000);
    const aAssessment = await completedAssessment(t, tk, a);
    const aReferral = await referral(t, tk, { personId: a, assessmentId: aAssessment, partnerId: PARTNER, serviceId: SERVICE.serviceId });
    expect(aReferral.status, JSON.stringify(aReferral.body)).toBe(201);
    const bOpen = await commandWhenKnown(t, 'assessment', 'POST', '/assessments', tk.sw, { personId: b, team: TEAM }, notYetKnown);
    expect(bOpen.status, JSON.stringify(bOpen.body)).toBe(201);

    await t.quiescent(120_000);
    const before = { cancelled: await cancelledCounts(), events: await eventCounts(t), dump: await t.dumpViews() };
    expect(before.cancelled).toEqual({ ReferralCancelled: 1, AssessmentCancelled: 1 });
    const tables = Object.keys(before.dump);
    console.log(`before the reset: ${JSON.stringify(before.events)}; ${tables.length} tables: ${tables.map((k) => `${k} (${before.dump[k]!.length})`).join(', ')}`);
    expect(tables.some((k) => k.startsWith('projections.')), 'the projections schema is dumped').toBe(true);

    // stop everything, reset every group of the run to the earliest offset, start again
    await t.stopAll();
    const groups = await t.groups();
    const reset: string[] = [];
    const admin = t.kafka.admin();
    await admin.connect();
    try {
      for (const groupId of groups) {
        for (const { topic } of await admin.fetchOffsets({ groupId })) {
          const was = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => p.offset).join(',');
          await admin.resetOffsets({ groupId, topic, earliest: true });
          const now = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => p.offset).join(',');
          reset.push(`${groupId.slice(t.prefix.length)} ${topic.slice(t.prefix.length)}: [${was}] → [${now}]`);
        }
      }
    } finally {
      await admin.disconnect();
    }
    console.log(`reset to the earliest offset: ${reset.length} (group, topic) pairs of ${groups.length} groups:\n  ${reset.join('\n  ')}`);
    expect(groups.length).toBeGreaterThanOrEqual(5);
    const lagAfterReset = await t.lag();
    expect(Object.values(lagAfterReset).reduce((n, g) => n + g.lag, 0), 'messages to deliver again').toBeGreaterThan(0);

    const t0 = Date.now();
    await t.startAll();
    const lag = await t.quiescent(180_000, groups.length);
    console.log(`redelivered and caught up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${Object.entries(lag).map(([g, v]) => `${g.slice(t.prefix.length)} lag ${v.lag}`).join(', ')}`);

    const after = { cancelled: await cancelledCounts(), events: await eventCounts(t), dump: await t.dumpViews() };
    const extra = await t.sql<{ type: string; stream: string; causation: string; actor: unknown }>(
      `SELECT event_type AS type, stream_id AS stream, metadata->>'causationId' AS causation, metadata->'actor' AS actor
         FROM eventstore.events WHERE event_type IN ('ReferralCancelled', 'AssessmentCancelled') ORDER BY global_position`,
    );
    console.log(`after the redelivery: ${JSON.stringify(after.events)}; cancellations: ${JSON.stringify(extra)}`);
    expect(after.cancelled, 'ReferralCancelled / AssessmentCancelled after redelivery').toEqual(before.cancelled);
    expect(after.events, 'events by type').toEqual(before.events);
    const changed = tables.filter((k) => JSON.stringify(before.dump[k]) !== JSON.stringify(after.dump[k]));
    for (const k of changed) {
      const was = new Set(before.dump[k]);
      const now = new Set(after.dump[k]);
      console.log(`${k} changed:\n  - ${[...was].filter((r) => !now.has(r)).join('\n  - ')}\n  + ${[...now].filter((r) => !was.has(r)).join('\n  + ')}`);
    }
    expect(Object.keys(after.dump)).toEqual(tables);
    expect(changed, 'tables whose rows changed after redelivery').toEqual([]);
  }, 900_000);
});
