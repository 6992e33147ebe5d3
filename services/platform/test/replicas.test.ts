import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import {
  bounded,
  command,
  completedAssessment,
  eventCounts,
  fiscalCodeOf,
  namesOf,
  FISCAL_BIRTH_DATE,
  holdsFor,
  partnerInAgreement,
  referral,
  registeredPerson,
  roleTokens,
  startTopology,
  type HttpResult,
  type RoleTokens,
  type Topology,
} from './topology.js';

// DESIGN §9 with real replicas: 3 processes each of intake, assessment,
// referral and projections on one PostgreSQL database and one Kafka broker.
// Requests are spread round-robin over the replicas; every rule that spans
// aggregates must hold whichever process serves the request:
// - a service's places: 200 acceptances at once for 10 places → exactly 10;
// - one person per fiscal code: 100 registrations at once → exactly 1;
// - one open referral per person and service: 50 referrals at once → exactly 1;
// - the SLA watcher on every referral replica: one ReferralOverdue per late referral.
// Counts come from the event store and the APIs, never from the test's bookkeeping alone.

const PARTNER = 'coop-casa';
const PLACES = { serviceId: 'posti-letto', domain: 'housing', capacity: 10 };
const DESK = { serviceId: 'sportello-casa', domain: 'housing', capacity: 1000 };
const PEOPLE = 200;
/** the issue's measured case, four times: 30 acceptances at once for 3 places */
const SMALL = ['piccolo-1', 'piccolo-2', 'piccolo-3', 'piccolo-4'].map((serviceId) => ({ serviceId, domain: 'housing', capacity: 3 }));
const PER_SMALL = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

let t: Topology;
let tk: RoleTokens;
/** referrals of the 200 people to PLACES, as created over the API */
const toPlaces: string[] = [];
/** the same people's completed assessments */
const cases: Array<{ personId: string; assessmentId: string }> = [];

beforeAll(async () => {
  t = await startTopology({ label: 'replicas', ownKafkaPort: process.env.ONESTOP_REPLICAS_KAFKA_PORT ?? '19792' });
  tk = await roleTokens(t, [PARTNER]);
  await partnerInAgreement(t, tk, PARTNER, [PLACES, DESK, ...SMALL], 1);
}, 300_000);

afterAll(async () => {
  await t?.close();
}, 120_000);

const tally = (rs: HttpResult[]) => {
  const out: Record<string, number> = {};
  for (const r of rs) {
    const k = r.status < 300 ? `${r.status}` : `${r.status} ${r.code ?? ''}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

/** Referral streams addressed to one service, from the store. */
const referralStreamsOf = (serviceId: string) =>
  `SELECT stream_id FROM eventstore.events WHERE event_type = 'ReferredToPartner' AND data->>'partnerId' = '${PARTNER}' AND data->>'serviceId' = '${serviceId}'`;

describe('3 replicas of every service on one PostgreSQL and one Kafka broker', () => {
  it('runs 3 processes of each service, each its own consumer group member', async () => {
    expect(t.procs.map((p) => p.name)).toEqual([
      'intake-1', 'intake-2', 'intake-3', 'assessment-1', 'assessment-2', 'assessment-3',
      'referral-1', 'referral-2', 'referral-3', 'projections-1', 'projections-2', 'projections-3',
    ]);
    const lag = await t.quiescent(120_000, 3);
    console.log('consumer groups:', Object.entries(lag).map(([g, v]) => `${g.slice(t.prefix.length)}: ${v.members} members`).join(', '));
    // every process of a service is a member of its service's groups
    expect(Math.max(...Object.values(lag).map((g) => g.members))).toBe(3);
  }, 180_000);

  it('200 concurrent acceptances over every referral replica for a service with 10 places: exactly 10 accepted, 190 refused no_free_capacity', async () => {
    const t0 = Date.now();
    await bounded(Array.from({ length: PEOPLE }, (_, i) => i), 12, async () => {
      const personId = await registeredPerson(t, tk);
      const assessmentId = await completedAssessment(t, tk, personId);
      const r = await referral(t, tk, { personId, assessmentId, partnerId: PARTNER, serviceId: PLACES.serviceId });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      toPlaces.push(r.body.referralId as string);
      cases.push({ personId, assessmentId });
    });
    console.log(`set-up: ${PEOPLE} people registered, consented, assessed and referred in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(new Set(toPlaces).size).toBe(PEOPLE);
    expect(Number((await t.sql<{ n: string }>(`SELECT count(*) AS n FROM (${referralStreamsOf(PLACES.serviceId)}) x`))[0]!.n)).toBe(PEOPLE);

    // every acceptance at once, round-robin over the three referral processes
    const token = tk.partner[PARTNER]!;
    const answers = await Promise.all(
      toPlaces.map((id) => command(t, 'referral', 'POST', `/referrals/${id}/acceptance`, token, { expectedStart: '2027-03-01' }, { requestTimeoutMs: 60_000 })),
    );
    const counts = tally(answers);
    const accepted = answers.filter((r) => r.status >= 200 && r.status < 300).length;
    const refused = answers.filter((r) => r.status === 422 && r.code === 'no_free_capacity').length;
    const stored = Number(
      (await t.sql<{ n: string }>(`SELECT count(*) AS n FROM eventstore.events WHERE event_type = 'ReferralAccepted' AND stream_id IN (${referralStreamsOf(PLACES.serviceId)})`))[0]!.n,
    );
    console.log(`acceptances: ${JSON.stringify(counts)}; ReferralAccepted stored: ${stored} (capacity ${PLACES.capacity})`);
    expect(stored, 'ReferralAccepted events in the store for a service of 10 places').toBe(PLACES.capacity);
    expect(accepted).toBe(PLACES.capacity);
    expect(refused).toBe(PEOPLE - PLACES.capacity);

    // the referral service (every replica) and the projections then agree: 10 accepted
    await eventually(async () => {
      for (const p of t.of('referral')) {
        const r = await t.http(p.url, 'GET', `/partners/${PARTNER}`, tk.admin);
        const s = (r.body.services as Array<{ serviceId: string; occupied: number; free: number }>).find((x) => x.serviceId === PLACES.serviceId)!;
        expect({ replica: p.name, occupied: s.occupied, free: s.free }).toEqual({ replica: p.name, occupied: PLACES.capacity, free: 0 });
      }
      for (const p of t.of('projections')) {
        const stats = (await t.http(p.url, 'GET', '/api/partners', tk.admin)).body as Array<{ partnerId: string; accepted: number; received: number }>;
        expect({ replica: p.name, ...stats.find((s) => s.partnerId === PARTNER) }).toMatchObject({ replica: p.name, accepted: PLACES.capacity, received: PEOPLE });
        const open = (await t.http(p.url, 'GET', `/api/referrals?partnerId=${PARTNER}&status=accepted&limit=500`, tk.admin)).body as unknown[];
        expect(open, `accepted referrals in the read models of ${p.name}`).toHaveLength(PLACES.capacity);
      }
    }, 60_000, 500);
  }, 900_000);

  it('4 services of 3 places, 30 concurrent acceptances each over every referral replica: exactly 3 accepted per service', async () => {
    const bySmall = await Promise.all(
      SMALL.map((s, k) =>
        bounded(cases.slice(k * PER_SMALL, (k + 1) * PER_SMALL), 8, async (c) => {
          const r = await referral(t, tk, { ...c, partnerId: PARTNER, serviceId: s.serviceId });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          return r.body.referralId as string;
        }),
      ),
    );
    const token = tk.partner[PARTNER]!;
    const answers = await Promise.all(
      bySmall.map((ids) => Promise.all(ids.map((id) => command(t, 'referral', 'POST', `/referrals/${id}/acceptance`, token, {}, { requestTimeoutMs: 60_000 })))),
    );
    const rows = await t.sql<{ service: string; n: string }>(
      `SELECT r.data->>'serviceId' AS service, count(a.*) AS n FROM eventstore.events r
         LEFT JOIN eventstore.events a ON a.stream_id = r.stream_id AND a.event_type = 'ReferralAccepted'
        WHERE r.event_type = 'ReferredToPartner' AND r.data->>'serviceId' LIKE 'piccolo-%' GROUP BY 1 ORDER BY 1`,
    );
    const stored = Object.fromEntries(rows.map((r) => [r.service, Number(r.n)]));
    console.log(`small services: ${SMALL.map((s, k) => `${s.serviceId} ${JSON.stringify(tally(answers[k]!))}`).join('; ')}; ReferralAccepted stored: ${JSON.stringify(stored)}`);
    expect(stored, 'ReferralAccepted per service of 3 places').toEqual(Object.fromEntries(SMALL.map((s) => [s.serviceId, s.capacity])));
    for (const a of answers) {
      expect(a.filter((r) => r.status >= 200 && r.status < 300)).toHaveLength(3);
      expect(a.filter((r) => r.status === 422 && r.code === 'no_free_capacity')).toHaveLength(PER_SMALL - 3);
    }
  }, 300_000);

  it('100 concurrent registrations with one fiscal code over the intake replicas: exactly 1 created, 99 refused duplicate_fiscal_code', async () => {
    const fiscalCode = fiscalCodeOf(4_242_424);
    const op = await t.token({ sub: 'op-dup', role: 'operator' });
    const body = { accessPoint: 'pistoia-centro', municipality: 'Pistoia', ...namesOf(fiscalCode), birthDate: FISCAL_BIRTH_DATE, fiscalCode };
    const answers = await Promise.all(Array.from({ length: 100 }, () => command(t, 'intake', 'POST', '/persons', op, body, { requestTimeoutMs: 60_000 })));
    const counts = tally(answers);
    const stored = await t.sql<{ stream_id: string }>(`SELECT stream_id FROM eventstore.events WHERE event_type = 'PersonRegistered' AND data->>'registeredBy' = 'op-dup'`);
    console.log(`registrations with one fiscal code: ${JSON.stringify(counts)}; PersonRegistered stored: ${stored.length}`);
    expect(stored, 'PersonRegistered events of the 100 registrations').toHaveLength(1);
    const created = answers.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409 && r.code === 'duplicate_fiscal_code')).toHaveLength(99);
    expect(stored[0]!.stream_id).toBe(`person-${created[0]!.body.personId}`);
    // every replica finds the one person by the fiscal code
    for (const p of t.of('intake')) {
      const r = await t.http(p.url, 'POST', '/persons/search', tk.operator, { fiscalCode });
      expect(r.body.persons.map((x: { personId: string }) => x.personId), p.name).toEqual([created[0]!.body.personId]);
    }
  }, 300_000);

  it('50 concurrent referrals of one person to one service over the referral replicas: exactly 1 created, 49 refused referral_already_open', async () => {
    const personId = await registeredPerson(t, tk);
    const assessmentId = await completedAssessment(t, tk, personId);
    // the referral replicas hear of the consent and the completed assessment over the bus: wait until all three have
    await t.quiescent(120_000);
    const body = { personId, assessmentId, partnerId: PARTNER, serviceId: DESK.serviceId, reason: 'sostegno abitativo', priority: 'routine' };
    const answers = await Promise.all(Array.from({ length: 50 }, () => command(t, 'referral', 'POST', '/referrals', tk.sw, body, { requestTimeoutMs: 60_000 })));
    const counts = tally(answers);
    const stored = await t.sql<{ stream_id: string }>(
      `SELECT stream_id FROM eventstore.events WHERE event_type = 'ReferredToPartner' AND data->>'personId' = $1 AND data->>'serviceId' = $2`,
      [personId, DESK.serviceId],
    );
    console.log(`referrals of one person to one service: ${JSON.stringify(counts)}; ReferredToPartner stored: ${stored.length}`);
    expect(stored, 'ReferredToPartner events of the 50 referrals').toHaveLength(1);
    const created = answers.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409 && r.code === 'referral_already_open')).toHaveLength(49);
    expect(stored[0]!.stream_id).toBe(`referral-${created[0]!.body.referralId}`);
  }, 300_000);

  it('the SLA watcher runs on every referral replica: exactly one ReferralOverdue per late referral', async () => {
    // Late without waiting a day: the referral processes start again with their clock 2 days ahead
    // (responseDays is 1) and a watcher pass every 500 ms. ONESTOP_CLOCK_OFFSET_MS and
    // ONESTOP_SLA_INTERVAL_MS are not in the product's configuration yet (see service-main.ts).
    await t.quiescent(120_000);
    const env = { ONESTOP_CLOCK_OFFSET_MS: String(2 * DAY_MS), ONESTOP_SLA_INTERVAL_MS: '500' };
    for (const p of t.of('referral')) await t.stop(p);
    await Promise.all(t.of('referral').map((p) => t.restart(p, env)));
    const late = (
      await t.sql<{ stream_id: string }>(
        `SELECT r.stream_id FROM eventstore.events r
          WHERE r.event_type = 'ReferredToPartner'
            AND NOT EXISTS (SELECT 1 FROM eventstore.events a WHERE a.stream_id = r.stream_id
                            AND a.event_type IN ('ReferralAccepted', 'ReferralDeclined', 'ReferralCancelled'))`,
      )
    ).map((r) => r.stream_id);
    // the refused ones of the 200 and of the small services, and the one of the 50 (when the rules above held)
    expect(late.length).toBeGreaterThan(PEOPLE / 2);
    const overdueCounts = async () =>
      new Map(
        (await t.sql<{ stream_id: string; n: string }>(`SELECT stream_id, count(*) AS n FROM eventstore.events WHERE event_type = 'ReferralOverdue' GROUP BY 1`)).map((r) => [
          r.stream_id,
          Number(r.n),
        ]),
      );
    await eventually(async () => {
      const marked = await overdueCounts();
      expect(late.filter((s) => !marked.has(s)), 'late referrals without a ReferralOverdue').toEqual([]);
    }, 90_000, 500);
    // and it stays exactly one while the three watchers keep passing (a pass every 500 ms each)
    const lateSet = new Set(late);
    await holdsFor(async () => {
      for (const p of t.of('referral')) expect(t.alive(p), `${p.name} runs`).toBe(true);
      const marked = await overdueCounts();
      const twice = [...marked].filter(([, n]) => n !== 1);
      expect(twice, 'referrals with more than one ReferralOverdue').toEqual([]);
      expect([...marked.keys()].filter((s) => !lateSet.has(s)), 'ReferralOverdue of referrals that were answered').toEqual([]);
      expect(marked.size).toBe(late.length);
    }, 10_000, 500);
    const counts = await eventCounts(t, 'referral-');
    console.log(`SLA: ${late.length} late referrals, ${counts.ReferralOverdue ?? 0} ReferralOverdue stored; referral events: ${JSON.stringify(counts)}`);
    expect(counts.ReferralOverdue).toBe(late.length);
  }, 300_000);
});
