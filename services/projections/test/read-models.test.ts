import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalEnvelope, createEvent, liftRecorded, topicForStream, type RawEnvelope, type RecordedEvent } from '@onestop/events';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { AuditSigningKey, PROJECTED_TOPICS, projectionsModule, ReadModels, type Projections, type RebuildProgress } from '../src/app.js';
import { appendScenario, at, caughtUp as caughtUp_, type Scenario } from './scenario.js';

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let projections: Projections;
let stop: () => Promise<void>;
let scenario: Scenario;
const tokens: Record<string, string> = {};
const module = projectionsModule({ rebuildPageSize: 25, signingKey: new AuditSigningKey(generateKeyPairSync('ed25519').privateKey) });

const caughtUp = async () => caughtUp_(infra.store, () => projections.lag(), await lastPosition());
/** the last position of the log (not yet necessarily visible to gap-safe reads) */
const lastPosition = async () => Number((await infra.db.query<{ p: string }>('SELECT max(global_position) AS p FROM eventstore.events'))[0]!.p);
const get = (url: string, role = 'operator') => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[role]}` } });

/** Every event of the read-model topics, as the bus hands them over. */
async function allEvents(): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = 0; ; ) {
    const page = await infra.store.readAll({ after, maxCount: 500 });
    if (page.length === 0) return out;
    out.push(...page.filter((e) => PROJECTED_TOPICS.includes(topicForStream(e.subject) ?? '')).map(liftRecorded));
    after = page.at(-1)!.globalPosition;
  }
}

/** A seeded shuffle across streams that keeps each stream's own order. */
function interleave(events: readonly RecordedEvent[], seed: number): RecordedEvent[] {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const queues = new Map<string, RecordedEvent[]>();
  for (const e of events) queues.set(e.subject, [...(queues.get(e.subject) ?? []), e]);
  const out: RecordedEvent[] = [];
  while (queues.size) {
    const keys = [...queues.keys()];
    const key = keys[Math.floor(random() * keys.length)]!;
    const q = queues.get(key)!;
    out.push(q.shift()!);
    if (q.length === 0) queues.delete(key);
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase('projections');
  infra = await openTestInfrastructure({ databaseUrl: db.url });
  await module.migrate!(infra);
  projections = module.projections(infra);
  app = await buildServiceApp({ title: 'test', description: 'test', modules: [module], ctx: infra });
  await app.ready();
  stop = await module.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.partner = await infra.token({ sub: 'caritas-desk', role: 'partner', partnerId: 'caritas' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  scenario = await appendScenario(infra.store);
  await caughtUp();
});

afterAll(async () => {
  await stop?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

describe('KPIs after the scripted scenario (expected values computed by hand, see scenario.ts)', () => {
  it('network overview', async () => {
    const res = await get('/api/overview');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      // A, B, C, D registered; E erased
      persons: { registered: 4, erased: 1, withAssessmentConsent: 4, withReferralSharingConsent: 3 /* D withdrew */ },
      // asD2 open; asA, asB, asC completed; asD cancelled
      assessments: { open: 1, completed: 3, cancelled: 1 },
      // r3 in progress + r6 requested are open; r6 is the one still waiting past its date
      referrals: { total: 8, open: 2, overdue: 1 },
      // asl-pistoia never joined; housing-desk, food-bank, job-coaching, counselling
      partners: { total: 3, inAgreement: 2, services: 4 },
    });
  });

  it('referral funnel', async () => {
    expect((await get('/api/funnel', 'team')).json()).toEqual({
      referred: 8,
      accepted: 4, // r1 r3 r5 r8
      started: 4, // r1 r3 r5 r8
      completed: 3, // r1 r5 r8
      declined: 2, // r2 r4
      cancelled: 1, // r7
      open: 2, // r3 r6
    });
    expect((await get('/api/funnel?partnerId=centro-impiego&domain=employment')).json()).toMatchObject({ referred: 2, accepted: 1, declined: 1, completed: 1 });
  });

  it('partner statistics with median times to answer and to start', async () => {
    const stats = (await get('/api/partners', 'auditor')).json();
    expect(stats).toEqual([
      {
        partnerId: 'asl-pistoia', name: 'ASL Toscana Centro', sector: 'public',
        received: 0, accepted: 0, declined: 0, declinedByReason: {}, started: 0, completed: 0, completedByOutcome: {},
        cancelled: 0, overdue: 0, medianHoursToAnswer: null, medianHoursToStart: null,
      },
      {
        partnerId: 'caritas', name: 'Caritas Pistoia', sector: 'third_sector',
        received: 6, // r1 r3 r4 r6 r7 r8
        accepted: 3, // r1 r3 r8
        declined: 1,
        declinedByReason: { not_eligible: 1 }, // r4
        started: 3,
        completed: 2,
        completedByOutcome: { achieved: 1, partially_achieved: 1 }, // r1 r8
        cancelled: 1, // r7
        overdue: 2, // r4 r6
        // answers: r1 24−0=24, r3 36−24=12, r4 168−24=144, r8 108−72=36 → 12 24 36 144 → (24+36)/2
        medianHoursToAnswer: 30,
        // starts: r1 72−0=72, r3 72−24=48, r8 168−72=96 → 48 72 96
        medianHoursToStart: 72,
      },
      {
        partnerId: 'centro-impiego', name: 'Centro per l’impiego', sector: 'public',
        received: 2, accepted: 1, declined: 1, declinedByReason: { no_capacity: 1 }, started: 1, completed: 1,
        completedByOutcome: { dropped_out: 1 }, cancelled: 0, overdue: 0,
        // answers: r2 48−0=48, r5 54−48=6 → (6+48)/2
        medianHoursToAnswer: 27,
        // starts: r5 72−48=24
        medianHoursToStart: 24,
      },
    ]);
  });

  it('need profiles by domain and by access point', async () => {
    const { byDomain, byAccessPoint } = (await get('/api/need-profiles', 'admin')).json();
    // completed assessments only: asA, asB, asC
    const housing = byDomain.find((d: { domain: string }) => d.domain === 'housing');
    expect(housing).toMatchObject({ assessments: 3, levels: { '0': 0, '1': 1, '2': 1, '3': 0, '4': 1 } }); // 2 4 1
    expect(housing.averageLevel).toBeCloseTo(7 / 3, 10); // (2+4+1)/3
    const averages = Object.fromEntries(byDomain.map((d: { domain: string; averageLevel: number }) => [d.domain, d.averageLevel]));
    expect(averages.economic).toBeCloseTo(2, 10); // (3+1+2)/3
    expect(averages.employment).toBeCloseTo(3, 10); // (4+2+3)/3
    expect(averages.education).toBeCloseTo(1, 10); // (1+0+2)/3
    expect(averages.social_network).toBeCloseTo(1, 10); // (0+2+1)/3
    expect(averages.health_care).toBeCloseTo(4 / 3, 10); // (1+0+3)/3
    expect(averages.training).toBeCloseTo(7 / 3, 10); // (2+1+4)/3
    expect(byDomain).toHaveLength(7);
    // pistoia-centro: asA and asB; capannori: asC
    const pistoia = Object.fromEntries(
      byAccessPoint.filter((d: { accessPoint: string }) => d.accessPoint === 'pistoia-centro').map((d: { domain: string; averageLevel: number; assessments: number }) => [d.domain, d]),
    );
    expect(pistoia.housing).toMatchObject({ assessments: 2, averageLevel: 3, levels: { '2': 1, '4': 1 } }); // (2+4)/2
    expect(pistoia.education.averageLevel).toBeCloseTo(0.5, 10); // (1+0)/2
    expect(pistoia.training.averageLevel).toBeCloseTo(1.5, 10); // (2+1)/2
    const capannoriTraining = byAccessPoint.find((d: { accessPoint: string; domain: string }) => d.accessPoint === 'capannori' && d.domain === 'training');
    expect(capannoriTraining).toMatchObject({ assessments: 1, averageLevel: 4, levels: { '4': 1 } });
  });

  it('operator caseload and assessments per team member', async () => {
    expect((await get('/api/caseload')).json()).toEqual({
      operators: [
        { operator: 'op-1', persons: 3, registered: 2, erased: 1 }, // A B E
        { operator: 'op-2', persons: 2, registered: 2, erased: 0 }, // C D
      ],
      teamMembers: [
        { memberId: 'ed-1', role: 'educator', assessments: 3, open: 1, completed: 2, cancelled: 0 }, // asB asC asD2
        { memberId: 'eo-1', role: 'employment_operator', assessments: 3, open: 0, completed: 2, cancelled: 1 }, // asA asC asD
        { memberId: 'sw-1', role: 'social_worker', assessments: 4, open: 1, completed: 2, cancelled: 1 }, // asA asB asD asD2
      ],
    });
  });

  it('referrals with status, timestamps and overdue flag; the overdue list', async () => {
    const r1 = (await get(`/api/referrals?partnerId=caritas&status=completed`)).json();
    expect(r1.map((r: { referralId: string }) => r.referralId).sort()).toEqual([scenario.referrals.r1, scenario.referrals.r8].sort());
    expect(r1.find((r: { referralId: string }) => r.referralId === scenario.referrals.r1)).toMatchObject({
      status: 'completed',
      referredAt: at(0),
      respondBy: at(120),
      acceptedAt: at(24),
      expectedStart: '2026-03-05',
      startedAt: at(72),
      completedAt: at(240),
      outcome: 'achieved',
      overdue: false,
    });
    const flagged = (await get('/api/referrals?overdue=true')).json();
    expect(flagged.map((r: { referralId: string }) => r.referralId).sort()).toEqual([scenario.referrals.r4, scenario.referrals.r6].sort());
    const overdue = (await get('/api/referrals/overdue')).json();
    expect(overdue).toEqual([expect.objectContaining({ referralId: scenario.referrals.r6, status: 'requested', overdue: true, overdueAt: at(169) })]);
    expect((await get('/api/referrals?limit=3&offset=0')).json()).toHaveLength(3);
    expect((await get('/api/referrals?status=bogus')).statusCode).toBe(400);
  });

  it('case overviews', async () => {
    const c = (await get(`/api/cases/${scenario.persons.C}`)).json();
    expect(c).toMatchObject({
      personId: scenario.persons.C,
      person: { accessPoint: 'capannori', municipality: 'Capannori', birthYear: 1990, registeredBy: 'op-2', status: 'registered', consents: { assessment: true, referral_sharing: true } },
      assessments: 1,
      assessmentsCompleted: 1,
      referrals: 3, // r5 r6 r8
      openReferrals: 1, // r6
      overdueReferrals: 1,
    });
    expect(c.streams).toHaveLength(5); // person, asC, r5, r6, r8
    expect(c.assessmentList[0]).toMatchObject({ status: 'completed', needProfile: { training: 4 }, priorityDomains: ['employment', 'health_care', 'training'], goals: 3 });
    const e = (await get(`/api/cases/${scenario.persons.E}`)).json();
    expect(e.person).toMatchObject({ status: 'erased', erasedAt: at(-100), consents: { assessment: false, referral_sharing: false } });
    expect((await get(`/api/cases?accessPoint=capannori`)).json().map((x: { personId: string }) => x.personId).sort()).toEqual([scenario.persons.C, scenario.persons.D].sort());
    expect((await get(`/api/cases/${randomUUID()}`)).statusCode).toBe(404);
    expect((await get('/api/cases/not-a-uuid')).statusCode).toBe(400);
  });

  it('dashboards are for operator, team, admin and auditor: 401 without a token, 403 for partners', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/overview' })).statusCode).toBe(401);
    expect((await get('/api/overview', 'partner')).statusCode).toBe(403);
    expect((await get('/api/partners', 'partner')).statusCode).toBe(403);
  });
});

describe('idempotent, order-independent projection', () => {
  it('applying the same events again changes nothing', async () => {
    const before = await projections.readModels.dump();
    const events = await allEvents();
    expect(await projections.readModels.apply(events)).toBe(0);
    expect(await projections.readModels.apply(events.slice(10, 40))).toBe(0);
    expect(await projections.readModels.dump()).toEqual(before);
  });

  it('redelivery of everything by the bus (checkpoint reset) changes nothing', async () => {
    const before = await projections.readModels.dump();
    await projections.stopConsumer();
    await infra.store.resetCheckpoint('bus:projections', 0);
    await projections.startConsumer();
    const last = await lastPosition();
    await eventually(async () => expect(await infra.store.loadCheckpoint('bus:projections')).toBe(last));
    expect(await projections.readModels.dump()).toEqual(before);
  });

  it('inside one batch, a repeated or older event of a stream is skipped; concurrent appliers of the same streams apply each event once', async () => {
    const live = await projections.readModels.dump();
    const events = await allEvents();
    // every event twice, and the previous event of its stream again after it
    const previous = new Map<string, RecordedEvent>();
    const noisy: RecordedEvent[] = [];
    for (const e of events) {
      noisy.push(e, e);
      const before = previous.get(e.subject);
      if (before) noisy.push(before);
      previous.set(e.subject, e);
    }
    const once = new ReadModels(infra.db, 'noisy_batch');
    await once.migrate();
    expect(await once.apply(noisy)).toBe(events.length);
    expect(await once.dump()).toEqual(live);

    // two appliers at once, in overlapping batches, each stream's batches in order
    const both = new ReadModels(infra.db, 'concurrent_appliers');
    await both.migrate();
    const runner = async (offset: number) => {
      let applied = 0;
      for (let i = offset; i < events.length; i += 20) applied += await both.apply(events.slice(Math.max(0, i - 10), i + 20));
      return applied;
    };
    const [a, b] = await Promise.all([runner(0), runner(10)]);
    expect(a + b).toBe(events.length);
    expect(await both.dump()).toEqual(live);
  });

  it('events in shuffled cross-stream orders (each stream in order) end in the same state', async () => {
    const live = await projections.readModels.dump();
    const events = await allEvents();
    for (const seed of [1, 7, 42]) {
      const other = new ReadModels(infra.db, `shuffled_${seed}`);
      await other.migrate();
      const order = interleave(events, seed);
      // small batches, each overlapping the previous one: redelivery inside the run as well
      for (let i = 0; i < order.length; i += 7) await other.apply(order.slice(Math.max(0, i - 3), i + 7));
      expect(await other.dump()).toEqual(live);
    }
    // the extreme: every referral before any directory, person or assessment event
    const rank = (e: RecordedEvent) => ['referral', 'audit', 'assessment', 'person', 'partner'].indexOf(e.subject.slice(0, e.subject.indexOf('-')));
    const backwards = new ReadModels(infra.db, 'backwards');
    await backwards.migrate();
    await backwards.apply([...events].sort((a, b) => rank(a) - rank(b)));
    expect(await backwards.dump()).toEqual(live);
  });
});

describe('rebuild', () => {
  it('yields read models identical to the incremental ones, answering and applying meanwhile', async () => {
    await caughtUp();
    const overviewBefore = (await get('/api/overview')).json();
    const progress: RebuildProgress[] = [];
    const lateId = randomUUID();
    let incremental: Awaited<ReturnType<ReadModels['dump']>> | undefined;
    const report = await projections.rebuild(async (p) => {
      progress.push(p);
      if (progress.length === 1) {
        // the old read models keep answering during the rebuild…
        const res = await get('/api/overview');
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual(overviewBefore);
        expect((await get('/api/partners')).statusCode).toBe(200);
        // …and keep being updated by the live consumer: an event that arrives now must not be lost by the swap
        const late = createEvent('PersonRegistered', { personId: lateId, accessPoint: 'grosseto', registeredBy: 'op-3', pii: { alg: 'A256GCM', kid: 'k', iv: 'AA==', ct: 'AA==', tag: 'AA==' }, municipality: 'Grosseto', birthYear: 1970 }, `person-${lateId}`, lateId, { source: '/onestop/intake', actor: { id: 'op-3', role: 'operator' }, correlationId: 'late', time: at(500) });
        await infra.store.append(`person-${lateId}`, [late as RawEnvelope], 'no_stream');
        await eventually(async () => expect(await projections.readModels.caseOverview(lateId)).toBeDefined());
        incremental = await projections.readModels.dump();
      }
    });
    expect(incremental).toBeDefined();
    expect(await projections.readModels.dump()).toEqual(incremental);
    expect(report.swapAttempts).toBe(1);
    expect(report.events).toBe(scenario.events + 1);
    // progress: several pages (page size 25), monotonic, ending with the swap
    expect(progress.length).toBeGreaterThan(4);
    expect(progress.map((p) => p.events)).toEqual([...progress.map((p) => p.events)].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ phase: 'swapped', events: report.events, position: report.position });
    const schemas = await infra.db.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'projections%' ORDER BY 1`);
    expect(schemas.map((s) => s.nspname)).toEqual(['projections']);

    // the consumer resumed, on the new read models
    const afterId = randomUUID();
    const after = createEvent('PersonRegistered', { personId: afterId, accessPoint: 'livorno', registeredBy: 'op-4', pii: { alg: 'A256GCM', kid: 'k', iv: 'AA==', ct: 'AA==', tag: 'AA==' }, municipality: 'Livorno', birthYear: 1960 }, `person-${afterId}`, afterId, { source: '/onestop/intake', actor: { id: 'op-4', role: 'operator' }, correlationId: 'after', time: at(501) });
    await infra.store.append(`person-${afterId}`, [after as RawEnvelope], 'no_stream');
    await eventually(async () => expect((await get(`/api/cases/${afterId}`)).statusCode).toBe(200));
    expect((await get('/api/overview')).json().persons.registered).toBe(6);
  });

  it('on command: POST /api/rebuild (admin only) runs in the background and reports its progress', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/rebuild', headers: { authorization: `Bearer ${tokens.operator}` } })).statusCode).toBe(403);
    const before = await projections.readModels.dump();
    const res = await app.inject({ method: 'POST', url: '/api/rebuild', headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ running: true });
    const again = await app.inject({ method: 'POST', url: '/api/rebuild', headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(again.statusCode).toBe(409);
    const done = await eventually(async () => {
      const s = (await get('/api/rebuild', 'admin')).json();
      expect(s.running).toBe(false);
      return s;
    });
    expect(done).toMatchObject({ error: null, progress: { phase: 'swapped' }, last: { swapAttempts: 1, skipped: 0 } });
    expect(await projections.readModels.dump()).toEqual(before);
  });

  // last: the dead-lettered stream stays behind for good, so lag() never returns to 0 after this
  it('leaves out what the live consumer dead-letters (an invalid event), instead of stopping', async () => {
    const before = await projections.readModels.dump();
    const referralId = randomUUID();
    // the payload breaks the catalog (dueAt is no instant): the store refuses such an append, so it is
    // written the way an older version or a hand behind the store's back would, through the SQL function
    const invalid = { ...createEvent('ReferralOverdue', { dueAt: at(1) }, `referral-${referralId}`, scenario.persons.A, { source: '/onestop/referral', actor: { id: 'sla', role: 'system' }, correlationId: 'bad', time: at(502) }), data: { dueAt: 'tomorrow' } };
    await expect(infra.store.append(`referral-${referralId}`, [invalid as RawEnvelope], 'no_stream')).rejects.toMatchObject({ code: 'invalid_event' });
    const { subject: _s, id, type, schemaVersion, data, ...metadata } = invalid;
    await infra.db.query('SELECT * FROM eventstore.append($1, -1, $2::uuid[], $3::text[], $4::int[], $5::jsonb[], $6::jsonb[], $7::text[], NULL)', [
      `referral-${referralId}`,
      [id],
      [type],
      [schemaVersion],
      [JSON.stringify(data)],
      [JSON.stringify(metadata)],
      [canonicalEnvelope(invalid as RawEnvelope)],
    ]);
    await eventually(async () => expect((await infra.bus.deadLetters('projections')).map((d) => d.origin)).toHaveLength(1));
    const report = await projections.rebuild();
    expect(report.skipped).toBe(1);
    expect(await projections.readModels.dump()).toEqual(before);
  });
});

describe('reading one’s own write', () => {
  it('a dashboard read with ?after= waits until the read models have applied that position', async () => {
    const before = (await get('/api/overview')).json().persons.registered as number;
    const personId = randomUUID();
    const ctx = { source: '/onestop/intake', actor: { id: 'op-9', role: 'operator' as const }, correlationId: 'own-write', time: at(600) };
    const registered = createEvent(
      'PersonRegistered',
      { personId, accessPoint: 'pistoia-centro', registeredBy: 'op-9', pii: { alg: 'A256GCM', kid: personId, iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' }, municipality: 'Pistoia', birthYear: 1990 },
      `person-${personId}`,
      personId,
      ctx,
    );
    const { globalPositions } = await infra.store.append(`person-${personId}`, [registered as unknown as RawEnvelope], 'no_stream');
    const res = await get(`/api/overview?after=${globalPositions[0]}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().persons.registered).toBe(before + 1);
    // every dashboard route says it is eventually consistent
    const doc = (await app.inject('/openapi.json')).json();
    expect(doc.paths['/api/overview'].get.description).toMatch(/eventually consistent/);
    expect(doc.paths['/api/overview'].get.parameters.map((p: { name: string }) => p.name)).toContain('after');
  });
});

