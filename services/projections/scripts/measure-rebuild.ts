// Measures a rebuild of the read models on PostgreSQL: fills a fresh database
// with N events of realistic cases, then rebuilds and reports events/s and the
// peak resident memory.
//
//   node --conditions=onestop-source --import tsx services/projections/scripts/measure-rebuild.ts [events=200000]
//
// Needs DATABASE_URL (an admin URL; a database is created and dropped) or the local server.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createEvent, type Actor, type EventContext, type RawEnvelope } from '@onestop/events';
import { createPostgresEventStore } from '@onestop/eventstore';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { AuditSigningKey, projectionsModule } from '../src/app.js';

const target = Number(process.argv[2] ?? 200_000);
// (not @onestop/testkit: it needs a running vitest)
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const admin = await createPostgresEventStore({ connectionString: adminUrl, migrate: false, maxConnections: 1 });
const name = `onestop_rebuild_${randomUUID().slice(0, 8)}`;
await admin.driver.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const db = { drop: () => admin.driver.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => admin.close()) };
const infra = await openTestInfrastructure({ databaseUrl: url.toString() });
try {
  const module = projectionsModule({ rebuildPageSize: 5000, signingKey: new AuditSigningKey(generateKeyPairSync('ed25519').privateKey) });
  await module.migrate!(infra);
  const projections = module.projections(infra);

  const cipher = { alg: 'A256GCM' as const, kid: 'k', iv: 'AAAAAAAAAAAAAAAA', ct: 'c2VjcmV0c2VjcmV0c2VjcmV0', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' };
  const actor: Actor = { id: 'op-1', role: 'operator' };
  const ctx = (source: string, time: string): EventContext => ({ source, actor, correlationId: 'measure', time });
  const t = (h: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + h * 3_600_000).toISOString();
  const partners = ['caritas', 'centro-impiego', 'asl-pistoia'];
  for (const p of partners) {
    await infra.store.append(`partner-${p}`, [
      createEvent('PartnerRegistered', { partnerId: p, name: p, sector: 'public', services: [{ serviceId: 'svc', name: 'Service', domain: 'housing', capacity: 100 }] }, `partner-${p}`, p, ctx('/onestop/referral', t(0))),
      createEvent('PartnerJoinedAgreement', { agreementId: 'accordo-pistoia', responseDays: 5 }, `partner-${p}`, p, ctx('/onestop/referral', t(1))),
    ] as RawEnvelope[], 'no_stream');
  }

  /** One case: person (3 events), assessment (9), two referrals (4 + 2): 18 events in 4 appends. */
  const oneCase = async (i: number) => {
    const personId = randomUUID();
    const assessmentId = randomUUID();
    const ps = `person-${personId}`;
    await infra.store.append(ps, [
      createEvent('PersonRegistered', { personId, accessPoint: `ap-${i % 4}`, registeredBy: `op-${i % 7}`, pii: cipher, municipality: 'Pistoia', birthYear: 1950 + (i % 50) }, ps, personId, ctx('/onestop/intake', t(10))),
      createEvent('ConsentGiven', { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }, ps, personId, ctx('/onestop/intake', t(11))),
      createEvent('ConsentGiven', { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1' }, ps, personId, ctx('/onestop/intake', t(11))),
    ] as RawEnvelope[], 'no_stream');
    const as = `assessment-${assessmentId}`;
    const profile = { economic: i % 5, employment: (i + 1) % 5, education: (i + 2) % 5, housing: (i + 3) % 5 || 1, social_network: 1, health_care: 2, training: 0 };
    await infra.store.append(as, [
      createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: `sw-${i % 9}`, role: 'social_worker' }, { memberId: `eo-${i % 5}`, role: 'employment_operator' }] }, as, personId, ctx('/onestop/assessment', t(20))),
      ...Object.entries(profile).map(([domain, needLevel]) => createEvent('DomainEvaluated', { domain: domain as 'economic', needLevel, notes: cipher, evaluatedBy: 'sw-1' }, as, personId, ctx('/onestop/assessment', t(21)))),
      createEvent('AssessmentCompleted', { needProfile: profile, priorityDomains: [], goals: [] }, as, personId, ctx('/onestop/assessment', t(22))),
    ] as RawEnvelope[], 'no_stream');
    for (const [k, then] of [[0, ['ReferralAccepted', 'ServiceStarted', 'ServiceCompleted']], [1, ['ReferralDeclined']]] as const) {
      const referralId = randomUUID();
      const rs = `referral-${referralId}`;
      const partnerId = partners[(i + k) % 3]!;
      const data = { ReferralAccepted: {}, ServiceStarted: {}, ServiceCompleted: { outcome: 'achieved' }, ReferralDeclined: { reason: 'no_capacity' } } as const;
      await infra.store.append(rs, [
        createEvent('ReferredToPartner', { referralId, personId, assessmentId, partnerId, serviceId: 'svc', domain: 'housing', reason: cipher, priority: 'routine', respondBy: t(150), referredBy: 'sw-1', consentEventId: randomUUID() }, rs, personId, ctx('/onestop/referral', t(30))),
        ...then.map((type, j) => createEvent(type, data[type] as never, rs, personId, ctx('/onestop/referral', t(40 + 10 * j)))),
      ] as RawEnvelope[], 'no_stream');
    }
  };

  const cases = Math.ceil(target / 18);
  const fillStarted = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < cases) await oneCase(next++);
  }));
  const head = await infra.store.headPosition();
  console.log(`filled ${head} events (${cases} cases) in ${((Date.now() - fillStarted) / 1000).toFixed(1)} s`);

  let peakRss = process.memoryUsage().rss;
  const rssBefore = peakRss;
  const report = await projections.rebuild((p) => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (p.phase !== 'copy' || p.events % 100_000 < 5000) console.log(`  ${p.phase} ${p.events}/${p.headPosition}`);
  });
  console.log(`rebuilt ${report.events} events in ${(report.durationMs / 1000).toFixed(1)} s: ${report.eventsPerSecond} events/s`);
  console.log(`rss before ${(rssBefore / 2 ** 20).toFixed(0)} MiB, peak during rebuild ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  console.log(JSON.stringify(await projections.readModels.overview()));
} finally {
  await infra.close();
  await db.drop();
}
