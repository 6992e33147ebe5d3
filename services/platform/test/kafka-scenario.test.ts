import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, Partitioners, type KafkaMessage, type Producer } from 'kafkajs';
import { partnerReferralsTopic, partnerResponsesTopic, TOPICS, topicForStream, type RawRecordedEvent } from '@onestop/events';
import { createKafkaBus, EmbeddedBus, KafkaBus } from '@onestop/bus';
import { buildServiceApp } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, testKafkaBrokers, type TestDatabase, readTopicToEnd } from '@onestop/testkit';
import { allModules } from '../src/modules.js';
import { COESO, JOURNEY_FREE_TEXT, LEGALE, PERSON } from './privacy-scan.js';

// The One Stop Shop path of scenario.test.ts with every service on
// ONESTOP_BUS=kafka and ONESTOP_STORE=postgres: the services' facts travel over
// the real broker, the partner reads its referrals on its own topic and answers
// on its responses topic. Then every byte the scenario put on Kafka (internal,
// partner and DLQ topics: keys, values, headers) is searched for the person's
// data: none may be there.

const prefix = `t.kscen.${randomBytes(4).toString('hex')}.`;
const topic = (t: string) => `${prefix}${t}`;
let brokers: string[];
let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let raw: Kafka;
let producer: Producer;
const stops: Array<() => Promise<void>> = [];
const t: Record<string, string> = {};

/** Free text of the team and the partners: stored encrypted, never on Kafka. */
const FREE_TEXT = JOURNEY_FREE_TEXT;

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  db = await createTestDatabase('kscenario');
  infra = await openTestInfrastructure({
    databaseUrl: db.url,
    env: { ONESTOP_BUS: 'kafka', KAFKA_BROKERS: brokers.join(','), KAFKA_PARTITIONS: '2', RATE_LIMIT_PER_MINUTE: '100000' },
    // the factory that ONESTOP_BUS=kafka selects, on this run's own topics and consumer groups
    adapters: { kafkaBus: (ctx) => createKafkaBus(ctx, { topicPrefix: prefix, groupPrefix: prefix }) },
  });
  const modules = allModules();
  for (const m of modules) await m.migrate?.(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'kafka scenario', modules, ctx: infra });
  for (const m of modules) if (m.start) stops.push(await m.start(infra));
  raw = new Kafka({ clientId: 'kafka-scenario-test', brokers, logLevel: logLevel.NOTHING });
  producer = raw.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  t.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  t.sw = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  t.eo = await infra.token({ sub: 'eo-1', role: 'team', teamRole: 'employment_operator' });
  t.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
  t.coeso = await infra.token({ sub: 'coeso-desk', role: 'partner', partnerId: COESO.partnerId });
  t.legale = await infra.token({ sub: 'legale-desk', role: 'partner', partnerId: LEGALE.partnerId });
});

afterAll(async () => {
  await producer?.disconnect();
  for (const stop of stops) await stop();
  await app?.close();
  await infra?.close();
  if (raw) {
    const admin = raw.admin();
    await admin.connect();
    const mine = (await admin.listTopics()).filter((n) => n.startsWith(prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
  }
  await db?.drop();
});

async function call(who: string, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, expected?: number) {
  const res = await app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: { authorization: `Bearer ${t[who]}` } });
  if (expected !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(expected);
  return res;
}

/** A partner's answer, written on its own responses topic as its system would. */
async function answer(partnerId: string, body: Record<string, unknown>): Promise<void> {
  await producer.send({ topic: topic(partnerResponsesTopic(partnerId)), acks: -1, messages: [{ key: String(body.referralId), value: JSON.stringify(body) }] });
}

const status = async (who: string, referralId: string) => (await call(who, 'GET', `/referrals/${referralId}`, undefined, 200)).json().status as string;

const readAll = (name: string): Promise<KafkaMessage[]> => readTopicToEnd(raw, name, 30_000);

const text = (v: Buffer | string | null | undefined) => (v == null ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : v);
const headersOf = (m: KafkaMessage) => Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, text(v as Buffer)]));

describe('the One Stop Shop path on Kafka', () => {
  it('runs every service on ONESTOP_BUS=kafka, with partner answers over the responses topic, and no personal data on any topic', async () => {
    expect(infra.bus.kind).toBe('kafka');
    expect(infra.bus).toBeInstanceOf(KafkaBus);
    const bus = infra.bus as KafkaBus;

    for (const p of [COESO, LEGALE]) {
      await call('admin', 'POST', '/partners', { partnerId: p.partnerId, name: p.partnerId, sector: 'third_sector', services: [{ serviceId: p.serviceId, name: p.serviceId, domain: p.domain, capacity: 3 }] }, 201);
      await call('admin', 'POST', `/partners/${p.partnerId}/agreements`, { responseDays: 5 }, 201);
    }

    // registration with fiscal code, phone, e-mail and address; a wrong check character is refused
    await call('operator', 'POST', '/persons', { ...PERSON, fiscalCode: 'RSSMGR85T50G713C' }, 422);
    const personId = (await call('operator', 'POST', '/persons', PERSON, 201)).json().personId as string;
    await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' }, 201);
    await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'referral_sharing', legalBasis: 'explicit_consent' }, 201);

    // assessment: the assessment service learns of the consent over Kafka
    const team = [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }];
    const assessmentId = await eventually(async () => {
      const r = await call('sw', 'POST', '/assessments', { personId, team });
      expect(r.statusCode, r.body).toBe(201);
      return r.json().assessmentId as string;
    }, 30_000, 200);
    const levels = { economic: 2, employment: 1, education: 0, housing: 4, social_network: 1, health_care: 0, training: 0 };
    for (const [i, [domain, needLevel]] of Object.entries(levels).entries()) {
      await call(i % 2 ? 'eo' : 'sw', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel, ...(domain === 'housing' ? { notes: FREE_TEXT.notes } : {}) }, 200);
    }
    await call('sw', 'POST', `/assessments/${assessmentId}/completion`, { goals: [{ domain: 'housing', description: FREE_TEXT.goal, targetDate: '2027-06-30' }] }, 200);

    // two referrals: the referral service learns of consent and assessment over Kafka
    const refer = (p: typeof COESO, reason: string) =>
      eventually(async () => {
        const r = await call('sw', 'POST', '/referrals', { personId, assessmentId, partnerId: p.partnerId, serviceId: p.serviceId, reason, priority: 'urgent' });
        expect(r.statusCode, r.body).toBe(201);
        return r.json().referralId as string;
      }, 30_000, 200);
    const toCoeso = await refer(COESO, FREE_TEXT.reasonCoeso);
    const toLegale = await refer(LEGALE, FREE_TEXT.reasonLegale);

    // coeso accepts on its responses topic; the same answer delivered twice is applied once
    const acceptance = { responseId: randomUUID(), referralId: toCoeso, action: 'accept', expectedStart: '2027-01-10', respondedBy: 'coeso-desk' };
    await answer(COESO.partnerId, acceptance);
    await answer(COESO.partnerId, acceptance);
    await eventually(async () => expect(await status('coeso', toCoeso)).toBe('accepted'), 30_000, 200);
    // contact details only through the audited HTTP API (intake hears of the referral over Kafka)
    const contact = await eventually(async () => {
      const r = await call('coeso', 'GET', `/persons/${personId}/contact-details`);
      expect(r.statusCode, r.body).toBe(200);
      return r.json();
    }, 30_000, 200);
    expect(contact).toMatchObject({ givenName: PERSON.givenName, phone: PERSON.phone, referralId: toCoeso });
    // start over HTTP, completion over Kafka
    await call('coeso', 'POST', `/referrals/${toCoeso}/start`, {}, 200);
    await answer(COESO.partnerId, { responseId: randomUUID(), referralId: toCoeso, action: 'complete', outcome: 'achieved', respondedBy: 'coeso-desk' });
    await eventually(async () => expect(await status('coeso', toCoeso)).toBe('completed'), 30_000, 200);
    // the other partner declines over HTTP, with a note (stored encrypted) ...
    await call('legale', 'POST', `/referrals/${toLegale}/decline`, { reason: 'other', note: FREE_TEXT.declineNote }, 200);
    // ... and tries to answer coeso's referral on its own topic: refused, to the DLQ
    await answer(LEGALE.partnerId, { responseId: randomUUID(), referralId: toCoeso, action: 'complete', outcome: 'dropped_out', respondedBy: 'legale-desk' });
    const letters = await eventually(async () => {
      const l = await bus.deadLetters(undefined, 100);
      expect(l).toHaveLength(1);
      return l;
    }, 30_000, 200);
    expect(letters[0]).toMatchObject({ group: 'referral-partner-responses', reason: expect.stringMatching(/^handler_failed: not_found: referral not found/) });
    expect(await status('coeso', toCoeso)).toBe('completed');

    // ── what the store holds, and the relay published ─────────────────────────
    const log: RawRecordedEvent[] = await infra.store.readAll({ maxCount: 10_000 });
    expect(log.filter((e) => e.partitionKey === personId && e.subject.startsWith('referral-')).map((e) => e.type)).toEqual([
      'ReferredToPartner', 'ReferredToPartner', 'ReferralAccepted', 'ServiceStarted', 'ServiceCompleted', 'ReferralDeclined',
    ]);
    const byKafka = log.filter((e) => e.causationId === acceptance.responseId);
    // the acceptance and the place it took, in one atomic append
    expect(byKafka.map((e) => [e.type, e.actor]).sort()).toEqual([
      ['PlaceTaken', { id: 'coeso-desk', role: 'partner', partnerId: COESO.partnerId }],
      ['ReferralAccepted', { id: 'coeso-desk', role: 'partner', partnerId: COESO.partnerId }],
    ]);
    await bus.relay!.reached(Math.max(...log.map((e) => e.globalPosition)), 30_000);

    // internal topics: every event on its topic once, keyed by person (partner for the directory), with its CloudEvents headers
    const expectedKey = (e: RawRecordedEvent) => (e.subject.startsWith('partner-') ? e.subject.slice('partner-'.length) : personId);
    const internal = new Map<string, KafkaMessage[]>();
    // reservation streams (fiscal code, case, places) stay in the store: no topic carries them
    const relayed = new Set(log.map((e) => topicForStream(e.subject)).filter((t): t is string => t !== undefined));
    expect(log.some((e) => e.subject.startsWith('case-')), 'the case stream is in the store').toBe(true);
    for (const name of relayed) internal.set(name, await readAll(topic(name)));
    expect([...internal.keys()].sort()).toEqual([TOPICS.assessment, TOPICS.audit, TOPICS.directory, TOPICS.intake, TOPICS.referral].sort());
    for (const [name, messages] of internal) {
      const stored = log.filter((e) => topicForStream(e.subject) === name);
      const byId = new Map(messages.map((m) => [headersOf(m).ce_id, m]));
      expect(byId.size, name).toBe(stored.length);
      for (const e of stored) {
        const m = byId.get(e.id);
        expect(m, `${e.type} ${e.id} on ${name}`).toBeDefined();
        expect(text(m!.key), `key of ${e.type}`).toBe(expectedKey(e));
        expect(headersOf(m!)).toMatchObject({
          ce_specversion: '1.0',
          ce_id: e.id,
          ce_type: e.type,
          ce_source: e.source,
          ce_subject: e.subject,
          ce_time: e.time,
          ce_partitionkey: expectedKey(e),
          ce_correlationid: e.correlationId,
          ce_schemaversion: String(e.schemaVersion),
          ce_dataschema: `https://onestop.example/schemas/${e.type}.v${e.schemaVersion}.schema.json`,
          ce_hash: e.hash,
          'content-type': 'application/json',
        });
      }
    }

    // partner topics: each partner sees only its own referrals, id-only, in order
    const allowed = new Set(['messageId', 'referralId', 'partnerId', 'event', 'status', 'personId', 'serviceId', 'domain', 'priority', 'respondBy', 'at', 'consentEventId', 'expectedStart', 'statusReason', 'outcome', 'dueAt']);
    const partnerView = async (partnerId: string) => {
      const ms = await eventually(async () => {
        const x = await readAll(topic(partnerReferralsTopic(partnerId)));
        expect(x.length).toBeGreaterThan(0);
        return x;
      }, 30_000, 250);
      return ms.map((m) => {
        const v = JSON.parse(text(m.value)) as Record<string, unknown>;
        expect(Object.keys(v).filter((k) => !allowed.has(k)), 'fields outside the partner message').toEqual([]);
        expect(text(m.key)).toBe(v.referralId);
        expect(headersOf(m)).toMatchObject({ ce_specversion: '1.0', ce_id: v.messageId, ce_type: v.event, ce_subject: `referral-${String(v.referralId)}` });
        return v;
      });
    };
    const coeso = await eventually(async () => {
      const v = await partnerView(COESO.partnerId);
      expect(v).toHaveLength(4);
      return v;
    }, 30_000, 250);
    expect(coeso.map((v) => [v.referralId, v.event, v.status])).toEqual([
      [toCoeso, 'ReferredToPartner', 'requested'],
      [toCoeso, 'ReferralAccepted', 'accepted'],
      [toCoeso, 'ServiceStarted', 'in-progress'],
      [toCoeso, 'ServiceCompleted', 'completed'],
    ]);
    expect(coeso[0]).toMatchObject({ personId, partnerId: COESO.partnerId, serviceId: COESO.serviceId, domain: 'housing', priority: 'urgent' });
    expect(coeso[1]).toMatchObject({ expectedStart: '2027-01-10' });
    expect(coeso[3]).toMatchObject({ outcome: 'achieved' });
    const legale = await eventually(async () => {
      const v = await partnerView(LEGALE.partnerId);
      expect(v).toHaveLength(2);
      return v;
    }, 30_000, 250);
    expect(legale.map((v) => [v.referralId, v.event, v.status, v.statusReason])).toEqual([
      [toLegale, 'ReferredToPartner', 'requested', undefined],
      [toLegale, 'ReferralDeclined', 'rejected', 'other'],
    ]);

    // the projections, fed by their Kafka consumer group, show the same path on the dashboard API
    await eventually(async () => {
      const funnel = (await call('admin', 'GET', '/api/funnel', undefined, 200)).json();
      expect(funnel).toMatchObject({ referred: 2, accepted: 1, started: 1, completed: 1, declined: 1, cancelled: 0 });
    }, 30_000, 250);

    // ── no personal data on any topic the scenario touched ────────────────────
    const names = (await (async () => {
      const admin = raw.admin();
      await admin.connect();
      try {
        return await admin.listTopics();
      } finally {
        await admin.disconnect();
      }
    })()).filter((n) => n.startsWith(prefix));
    const touched = [
      ...[TOPICS.intake, TOPICS.assessment, TOPICS.referral, TOPICS.directory, TOPICS.audit, TOPICS.casework, TOPICS.dlq].map(topic),
      ...[COESO, LEGALE].flatMap((p) => [topic(partnerReferralsTopic(p.partnerId)), topic(partnerResponsesTopic(p.partnerId))]),
    ];
    for (const n of touched) expect(names).toContain(n);
    const secrets = [
      PERSON.givenName, PERSON.familyName, PERSON.fiscalCode, PERSON.phone, PERSON.phone.replace(/\D/g, ''), '0573 918273',
      PERSON.email, PERSON.email.split('@')[0]!, PERSON.address, 'Vetturini', PERSON.birthDate,
      ...Object.values(FREE_TEXT),
    ].map((s) => s.toLowerCase());
    let scanned = 0;
    let bytes = 0;
    const found: string[] = [];
    const byTopic = new Map<string, string>();
    for (const n of names) {
      const messages = await readAll(n);
      let all = '';
      for (const m of messages) {
        // raw bytes of key, value, and every header name and value, read as latin1 so that nothing is lost in decoding
        const parts: Buffer[] = [m.key ?? Buffer.alloc(0), m.value ?? Buffer.alloc(0)];
        for (const [k, v] of Object.entries(m.headers ?? {})) {
          parts.push(Buffer.from(k));
          for (const x of Array.isArray(v) ? v : [v]) if (x != null) parts.push(Buffer.isBuffer(x) ? x : Buffer.from(String(x)));
        }
        const haystack = Buffer.concat(parts);
        bytes += haystack.length;
        all += `${haystack.toString('latin1')}\n`;
        const lower = haystack.toString('latin1').toLowerCase();
        const utf8Lower = haystack.toString('utf8').toLowerCase();
        for (const s of secrets) if (lower.includes(Buffer.from(s).toString('latin1')) || utf8Lower.includes(s)) found.push(`${s} in ${n}`);
        scanned += 1;
      }
      byTopic.set(n.slice(prefix.length), all);
    }
    expect(found).toEqual([]);
    expect(scanned).toBeGreaterThanOrEqual(log.filter((e) => topicForStream(e.subject) !== undefined).length + 6 + 3 + 1);
    expect(bytes).toBeGreaterThan(10_000);
    // the person's data is on the intake topic, but only as ciphertext; the partner topics carry none at all
    expect(byTopic.get(TOPICS.intake)).toContain('A256GCM');
    for (const p of [COESO, LEGALE]) expect(byTopic.get(partnerReferralsTopic(p.partnerId))).not.toMatch(/A256GCM|"ct"|"iv"|sw-1|eo-1/);
    // the search sees what is there: the partners' own answers, in clear on their topics
    expect(byTopic.get(partnerResponsesTopic(COESO.partnerId))).toContain(acceptance.responseId);
    expect(byTopic.get(partnerResponsesTopic(COESO.partnerId))).toContain('coeso-desk');
    // the one refused answer is on the DLQ topic with its reason
    expect(byTopic.get(TOPICS.dlq)).toContain('not_found: referral not found');
  }, 180_000);

  it('selects either bus adapter by configuration alone (ONESTOP_BUS), for the same services', async () => {
    const embedded = await openTestInfrastructure({ databaseUrl: db.url });
    try {
      expect(embedded.bus).toBeInstanceOf(EmbeddedBus);
    } finally {
      await embedded.close();
    }
    // no adapters: the broker's real topic names; only opened and closed, no consumer joins a group
    const kafka = await openTestInfrastructure({ databaseUrl: db.url, env: { ONESTOP_BUS: 'kafka', KAFKA_BROKERS: brokers.join(',') } });
    try {
      expect(kafka.bus).toBeInstanceOf(KafkaBus);
      expect(await kafka.bus.healthy()).toBe(true);
      // another process of the same database: the relay of the scenario holds the lock, this one stands by
      expect((kafka.bus as KafkaBus).relay!.stats.active).toBe(false);
    } finally {
      await kafka.close();
    }
    // the scenario above ran allModules() on the Kafka bus; scenario.test.ts runs them on the embedded one
    expect(allModules().map((m) => m.name)).toEqual(expect.arrayContaining(['intake', 'assessment', 'referral']));
  });
});
