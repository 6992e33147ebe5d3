import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, ConfigSource, Kafka, logLevel, Partitioners, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import {
  createEvent,
  liftRecorded,
  partnerReferralsTopic,
  partnerResponsesTopic,
  TOPICS,
  type EventContext,
  type RawEnvelope,
  type RecordedEvent,
} from '@onestop/events';
import { createKafkaBus, deadLetterBytes } from '@onestop/bus';
import { buildServiceApp, ConfigError, loadConfig, ManualClock } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { intakeModule } from '@onestop/intake';
import { createTestDatabase, eventually, testKafkaBrokers, type TestDatabase, readTopicToEnd } from '@onestop/testkit';
import { referralModule } from '../src/app.js';
import { PARTNER_RESPONSES_GROUP } from '../src/partner-gateway.js';
import { PartnerReferralMessage } from '../src/partner-gateway-messages.js';

// The partner topics of DESIGN §5 against the real broker, with the intake and
// referral services on ONESTOP_BUS=kafka: id-only referrals out, answers in
// through the same decider as HTTP, refused answers to the DLQ with their
// reason, redelivery applied once.

const prefix = `t.gateway.${randomBytes(4).toString('hex')}.`;
let brokers: string[];
let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let raw: Kafka;
let producer: Producer;
let stopReferral: (() => Promise<void>) | undefined;
let stopIntake: () => Promise<void>;
const clock = new ManualClock(new Date('2026-11-26T09:00:00.000Z'));
const referral = referralModule({ slaIntervalMs: 3_600_000 });
const tokens: Record<string, string> = {};
const topic = (t: string) => `${prefix}${t}`;

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  db = await createTestDatabase('gateway');
  infra = await openTestInfrastructure({
    databaseUrl: db.url,
    clock,
    env: { ONESTOP_BUS: 'kafka', KAFKA_BROKERS: brokers.join(','), KAFKA_PARTITIONS: '2' },
    // the factory ONESTOP_BUS=kafka uses, on this run's own topics and groups (one broker serves every test file)
    adapters: { kafkaBus: (ctx) => createKafkaBus(ctx, { topicPrefix: prefix, groupPrefix: prefix }) },
  });
  const intake = intakeModule();
  await intake.migrate!(infra);
  await referral.migrate!(infra);
  app = await buildServiceApp({ title: 'test', description: 'test', modules: [intake, referral], ctx: infra });
  await app.ready();
  stopIntake = await intake.start!(infra);
  stopReferral = await referral.start!(infra);
  raw = new Kafka({ clientId: 'gateway-test', brokers, logLevel: logLevel.NOTHING });
  producer = raw.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.team = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
});

afterAll(async () => {
  await producer?.disconnect();
  await stopReferral?.();
  await stopIntake?.();
  await app?.close();
  await infra?.close();
  if (raw) {
    const admin = raw.admin();
    await admin.connect();
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
  }
  await db?.drop();
});

const call = async (method: 'GET' | 'POST', url: string, role: string, body?: unknown, expected?: number) => {
  const res = await app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}), headers: { authorization: `Bearer ${tokens[role]}` } });
  if (expected !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(expected);
  return res;
};

async function partner(partnerId: string, serviceId: string, domain: string): Promise<void> {
  await call('POST', '/partners', 'admin', { partnerId, name: partnerId, sector: 'third_sector', services: [{ serviceId, name: serviceId, domain, capacity: 5 }] }, 201);
  await call('POST', `/partners/${partnerId}/agreements`, 'admin', { responseDays: 5 }, 201);
}

/** A person with referral_sharing consent and a completed assessment (appended as the assessment service would). */
async function aCase(): Promise<{ personId: string; assessmentId: string }> {
  const reg = await call('POST', '/persons', 'operator', { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Test', familyName: `Gateway ${randomUUID().slice(0, 6)}`, birthDate: '1980-01-01' }, 201);
  const personId = reg.json().personId as string;
  await call('POST', `/persons/${personId}/consents`, 'operator', { scope: 'referral_sharing', legalBasis: 'explicit_consent' }, 201);
  const assessmentId = randomUUID();
  const ctx: EventContext = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team', teamRole: 'social_worker' }, correlationId: 'test', time: clock.now().toISOString() };
  const stream = `assessment-${assessmentId}`;
  const needProfile = { economic: 2, employment: 2, education: 0, housing: 3, social_network: 0, health_care: 0, training: 0 };
  await infra.store.append(
    stream,
    [
      createEvent('AssessmentStarted', { assessmentId, personId, team: [{ memberId: 'sw-1', role: 'social_worker' }, { memberId: 'eo-1', role: 'employment_operator' }] }, stream, personId, ctx),
      createEvent('AssessmentCompleted', { needProfile, priorityDomains: ['housing'], goals: [] }, stream, personId, ctx),
    ] as unknown as RawEnvelope[],
    'no_stream',
  );
  return { personId, assessmentId };
}

/** Refers once the referral service has heard (over Kafka) of the consent and the assessment. */
async function refer(c: { personId: string; assessmentId: string }, partnerId: string, serviceId: string): Promise<string> {
  return eventually(async () => {
    const res = await call('POST', '/referrals', 'team', { ...c, partnerId, serviceId, reason: 'needs a place to stay', priority: 'urgent' });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().referralId as string;
  }, 30_000, 200);
}

const events = async (referralId: string): Promise<RecordedEvent[]> => (await infra.store.readStream(`referral-${referralId}`)).map(liftRecorded);

/** A partner's answer as its system would write it. */
function answer(partnerId: string, body: Record<string, unknown>, key?: string | null): { topic: string; message: Message } {
  return { topic: topic(partnerResponsesTopic(partnerId)), message: { key: key === undefined ? String(body.referralId ?? 'x') : key, value: JSON.stringify(body) } };
}
async function send(...items: Array<{ topic: string; message: Message }>): Promise<void> {
  for (const i of items) await producer.send({ topic: i.topic, acks: -1, messages: [i.message] });
}

async function topicNames(): Promise<string[]> {
  const admin = raw.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  } finally {
    await admin.disconnect();
  }
}

const readAll = (name: string): Promise<KafkaMessage[]> => readTopicToEnd(raw, name, 20_000);

/** A topic's own config overrides, as the broker reports them. */
async function overrides(name: string): Promise<Record<string, string>> {
  const admin = raw.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name }] });
    return Object.fromEntries(resources[0]!.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]));
  } finally {
    await admin.disconnect();
  }
}

const WEEK_MS = 7 * 24 * 3600_000;
/** What a responses topic carries with the default KAFKA_PARTNER_RESPONSES_RETENTION_MS: the partner's notes go after a week (and a day). */
const BOUNDED = { 'cleanup.policy': 'delete', 'retention.ms': String(WEEK_MS), 'segment.ms': String(24 * 3600_000) };

const letters = () => infra.bus.deadLetters(PARTNER_RESPONSES_GROUP, 1000);

const shared: { caseA?: { personId: string; assessmentId: string }; referralA?: string; acceptanceId?: string } = {};

describe('partner gateway (Kafka)', () => {
  it('creates a partner’s two topics when it registers, and publishes its referrals there, id-only', async () => {
    await partner('caritas', 'housing-desk', 'housing');
    await partner('centro-impiego', 'job-coaching', 'employment');
    await eventually(async () => {
      const names = await topicNames();
      for (const p of ['caritas', 'centro-impiego']) {
        expect(names).toContain(topic(partnerReferralsTopic(p)));
        expect(names).toContain(topic(partnerResponsesTopic(p)));
      }
    }, 20_000, 200);
    // the partner's answers (its notes in clear) are kept a bounded time; its referrals are id-only and keep the broker's retention
    for (const p of ['caritas', 'centro-impiego']) {
      expect(await overrides(topic(partnerResponsesTopic(p))), p).toEqual(BOUNDED);
      expect(await overrides(topic(partnerReferralsTopic(p))), p).toEqual({});
    }

    shared.caseA = await aCase();
    const referralId = await refer(shared.caseA, 'caritas', 'housing-desk');
    shared.referralA = referralId;
    const [m] = await eventually(async () => {
      const ms = await readAll(topic(partnerReferralsTopic('caritas')));
      expect(ms.length).toBeGreaterThanOrEqual(1);
      return ms;
    }, 20_000, 250);
    expect(m!.key!.toString()).toBe(referralId);
    const value = PartnerReferralMessage.parse(JSON.parse(m!.value!.toString()));
    const stored = (await events(referralId))[0]!;
    expect(value).toEqual({
      messageId: stored.id,
      referralId,
      partnerId: 'caritas',
      event: 'ReferredToPartner',
      status: 'requested',
      personId: shared.caseA.personId,
      serviceId: 'housing-desk',
      domain: 'housing',
      priority: 'urgent',
      respondBy: (stored.data as { respondBy: string }).respondBy,
      at: stored.time,
      consentEventId: (stored.data as { consentEventId: string }).consentEventId,
    });
    const headers = Object.fromEntries(Object.entries(m!.headers!).map(([k, v]) => [k, String(v)]));
    expect(headers).toMatchObject({ ce_specversion: '1.0', ce_id: stored.id, ce_type: 'ReferredToPartner', ce_subject: `referral-${referralId}`, 'content-type': 'application/json' });
    // nothing of the encrypted reason, nor any ciphertext, nor the team member
    const text = `${m!.value!.toString()}${JSON.stringify(headers)}`;
    for (const s of ['"ct"', '"iv"', 'A256GCM', 'sw-1', 'needs a place']) expect(text).not.toContain(s);
    // the other partner sees nothing of it
    expect(await readAll(topic(partnerReferralsTopic('centro-impiego')))).toHaveLength(0);
  });

  it('applies an answer from the partner’s responses topic through the decider, once, even when it arrives twice', async () => {
    const referralId = shared.referralA!;
    const responseId = randomUUID();
    shared.acceptanceId = responseId;
    const accept = answer('caritas', { responseId, referralId, action: 'accept', expectedStart: '2026-12-01', respondedBy: 'caritas-desk-7' });
    await send(accept, accept);
    await eventually(async () => expect((await events(referralId)).map((e) => e.type)).toContain('ReferralAccepted'), 20_000, 200);
    // a third copy later: still one acceptance
    await send(accept);
    const start = answer('caritas', { responseId: randomUUID(), referralId, action: 'start', respondedBy: 'caritas-desk-7' });
    await send(start);
    await eventually(async () => expect((await events(referralId)).map((e) => e.type)).toEqual(['ReferredToPartner', 'ReferralAccepted', 'ServiceStarted']), 20_000, 200);
    const accepted = (await events(referralId))[1]!;
    expect(accepted).toMatchObject({
      causationId: responseId,
      actor: { id: 'caritas-desk-7', role: 'partner', partnerId: 'caritas' },
      data: { expectedStart: '2026-12-01' },
      source: '/onestop/referral',
    });
    // the view follows the store (eventually consistent): read the start's own write
    const startedAt = (await events(referralId))[2]!.globalPosition;
    expect((await call('GET', `/referrals/${referralId}?after=${startedAt}`, 'admin', undefined, 200)).json()).toMatchObject({ status: 'in-progress' });
    expect(await letters()).toHaveLength(0);
    // the partner's topic tells what happened, in order
    await eventually(async () => {
      const ms = (await readAll(topic(partnerReferralsTopic('caritas')))).map((m) => PartnerReferralMessage.parse(JSON.parse(m.value!.toString())));
      expect(ms.filter((m) => m.referralId === referralId).map((m) => [m.event, m.status])).toEqual([
        ['ReferredToPartner', 'requested'],
        ['ReferralAccepted', 'accepted'],
        ['ServiceStarted', 'in-progress'],
      ]);
      expect(ms.find((m) => m.event === 'ReferralAccepted')).toMatchObject({ expectedStart: '2026-12-01' });
    }, 20_000, 250);
  });

  it('sends refused and invalid answers to the DLQ (topic and SQL) with their reasons; the service stays healthy', async () => {
    const referralId = shared.referralA!; // in progress, at caritas
    const caseB = await aCase();
    const referralB = await refer(caseB, 'centro-impiego', 'job-coaching');
    const base = { responseId: randomUUID(), referralId, respondedBy: 'desk-1' };
    const hostile: Array<{ label: string; item: { topic: string; message: Message }; reason: RegExp }> = [
      {
        label: 'another partner’s referral',
        item: answer('centro-impiego', { ...base, responseId: randomUUID(), action: 'complete', outcome: 'achieved' }),
        reason: /^handler_failed: not_found: referral not found/,
      },
      { label: 'bad JSON', item: { topic: topic(partnerResponsesTopic('caritas')), message: { key: referralId, value: '{"responseId":' } }, reason: /^invalid: value is not JSON$/ },
      { label: 'not UTF-8', item: { topic: topic(partnerResponsesTopic('caritas')), message: { key: referralId, value: Buffer.from([0xff, 0xfe, 0x7b]) } }, reason: /^invalid: value is not UTF-8$/ },
      { label: 'wrong schema', item: answer('caritas', { ...base, responseId: 'not-a-uuid', action: 'start', extra: 1 }), reason: /^invalid: .*responseId.*extra|^invalid: .*extra.*responseId/ },
      { label: 'unknown action', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'cancel' }), reason: /^invalid: action/ },
      { label: 'missing outcome', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'complete' }), reason: /^invalid: outcome/ },
      { label: 'decline without reason', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'decline', note: 'x' }), reason: /^invalid: reason/ },
      { label: 'unknown referral', item: answer('caritas', { ...base, responseId: randomUUID(), referralId: randomUUID(), action: 'accept' }), reason: /^handler_failed: not_found: referral .* not found/ },
      { label: 'refused transition', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'decline', reason: 'no_capacity' }), reason: /^handler_failed: transition_refused: a referral that is in-progress cannot be declined/ },
      {
        label: 'a responseId already used for another answer',
        item: answer('caritas', { ...base, responseId: shared.acceptanceId!, action: 'complete', outcome: 'achieved' }),
        reason: /^handler_failed: response_id_reused: responseId .* already answered this referral with ReferralAccepted/,
      },
      { label: 'a key that is not the referral', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'start' }, randomUUID()), reason: /^invalid: the key is not the referralId$/ },
      { label: 'an e-mail address as respondedBy', item: answer('caritas', { ...base, responseId: randomUUID(), action: 'start', respondedBy: 'anna@example.org' }), reason: /^invalid: respondedBy/ },
      {
        label: 'a late decline with a note, for a referral already in progress',
        item: answer('caritas', { ...base, responseId: randomUUID(), action: 'decline', reason: 'other', note: 'sfratto imminente, famiglia Bianchi' }),
        reason: /^handler_failed: transition_refused/,
      },
    ];
    await send(...hostile.map((h) => h.item));
    // a valid answer after them all is still applied: nothing is stuck behind the refused ones
    await send(answer('centro-impiego', { responseId: randomUUID(), referralId: referralB, action: 'decline', reason: 'no_capacity', respondedBy: 'cpi-desk' }));
    await eventually(async () => expect((await events(referralB)).map((e) => e.type)).toEqual(['ReferredToPartner', 'ReferralDeclined']), 20_000, 200);
    await eventually(async () => expect(await letters()).toHaveLength(hostile.length), 20_000, 200);

    const sql = await letters();
    const byOrigin = new Map(sql.map((l) => [l.origin, l]));
    const dlq = await eventually(async () => {
      const ms = (await readAll(topic(TOPICS.dlq))).filter((m) => String(m.headers?.dlq_group) === PARTNER_RESPONSES_GROUP);
      expect(ms).toHaveLength(hostile.length);
      return ms;
    }, 20_000, 250);
    // a dead letter lives outside the log, out of reach of erasure: free text is kept as a digest, bytes that are not JSON too
    for (const where of [JSON.stringify(sql), ...dlq.map((m) => m.value!.toString('latin1'))]) {
      for (const text of ['sfratto', 'Bianchi']) expect(where).not.toContain(text);
    }
    const late = sql.find((l) => /"action":"decline","reason":"other"/.test(JSON.stringify(l.payload)));
    expect(late?.payload).toMatchObject({ note: { redacted: 'free_text', sha256: createHash('sha256').update('sfratto imminente, famiglia Bianchi').digest('hex') } });
    for (const h of hostile) {
      const body = deadLetterBytes(Buffer.from(h.item.message.value!))!;
      const copy = dlq.find((m) => m.value!.equals(body) && m.headers!.dlq_topic!.toString() === h.item.topic);
      expect(copy, h.label).toBeDefined();
      const reason = copy!.headers!.dlq_reason!.toString();
      expect(reason, h.label).toMatch(h.reason);
      const origin = `${copy!.headers!.dlq_topic}/${copy!.headers!.dlq_partition}@${copy!.headers!.dlq_offset}`;
      expect(byOrigin.get(origin)?.reason, `${h.label} in SQL`).toBe(reason);
    }
    // the referral is as it was, the bus is healthy and the service ready
    expect((await events(referralId)).map((e) => e.type)).toEqual(['ReferredToPartner', 'ReferralAccepted', 'ServiceStarted']);
    expect(await infra.bus.healthy()).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });

  it('on start creates the topics of every known partner and, when answers are delivered again, applies none twice and dead-letters none', async () => {
    await stopReferral!();
    stopReferral = undefined;
    // the topics of a partner are gone (an operator deleted them), and its answers are read again from the start
    const admin = raw.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topic(partnerReferralsTopic('centro-impiego')), topic(partnerResponsesTopic('centro-impiego'))] });
      await eventually(async () => expect((await admin.listTopics()).filter((t) => t.includes('centro-impiego'))).toEqual([]), 20_000, 200);
      await admin.resetOffsets({ groupId: `${prefix}${PARTNER_RESPONSES_GROUP}`, topic: topic(partnerResponsesTopic('caritas')), earliest: true });
      // an operator kept caritas's answers for ever (and set a size limit of its own)
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic(partnerResponsesTopic('caritas')), configEntries: [{ name: 'retention.ms', value: '-1' }, { name: 'max.message.bytes', value: '65536' }] }],
      });
      await eventually(async () => expect(await overrides(topic(partnerResponsesTopic('caritas')))).toEqual({ 'retention.ms': '-1', 'max.message.bytes': '65536' }), 10_000, 100);
    } finally {
      await admin.disconnect();
    }
    const dlqCopies = async () => (await readAll(topic(TOPICS.dlq))).filter((m) => String(m.headers?.dlq_group) === PARTNER_RESPONSES_GROUP).length;
    const before = { events: (await events(shared.referralA!)).length, letters: (await letters()).length, copies: await dlqCopies() };
    const caritasLetters = (await letters()).filter((l) => l.origin.includes('.caritas.')).length;
    stopReferral = await referral.start!(infra);
    const names = await topicNames();
    expect(names).toContain(topic(partnerReferralsTopic('centro-impiego')));
    expect(names).toContain(topic(partnerResponsesTopic('centro-impiego')));
    // the start set the bounded retention again on the existing topic (the size limit stays), and on the recreated one
    expect(await overrides(topic(partnerResponsesTopic('caritas')))).toEqual({ ...BOUNDED, 'max.message.bytes': '65536' });
    expect(await overrides(topic(partnerResponsesTopic('centro-impiego')))).toEqual(BOUNDED);

    // every caritas answer is read again (the accepted one three times); a new one marks how far it got
    const complete = answer('caritas', { responseId: randomUUID(), referralId: shared.referralA!, action: 'complete', outcome: 'partially_achieved', respondedBy: 'caritas-desk-7' });
    await send(complete);
    await eventually(async () => expect((await events(shared.referralA!)).map((e) => e.type).at(-1)).toBe('ServiceCompleted'), 30_000, 200);
    expect((await events(shared.referralA!)).length).toBe(before.events + 1);
    expect((await events(shared.referralA!)).filter((e) => e.type === 'ReferralAccepted')).toHaveLength(1);
    // they were read again: the refused ones went to the DLQ topic again (at-least-once) ...
    await eventually(async () => expect(await dlqCopies()).toBe(before.copies + caritasLetters), 20_000, 250);
    // ... but their SQL record is one per original message, and no valid answer became a dead letter
    expect((await letters()).length).toBe(before.letters);
    // the recreated topics work: centro-impiego's next referral reaches it
    const referralC = await refer(shared.caseA!, 'centro-impiego', 'job-coaching');
    await eventually(async () => {
      const ms = (await readAll(topic(partnerReferralsTopic('centro-impiego')))).map((m) => JSON.parse(m.value!.toString()) as { referralId: string });
      expect(ms.map((m) => m.referralId)).toContain(referralC);
    }, 20_000, 250);
  });
});

describe('partner gateway: the waitlist (Kafka)', () => {
  it('publishes ReferralWaitlisted and ReferralPlaceAvailable to the partner, on-hold, with codes and dates only', async () => {
    const partnerId = 'casa-famiglia';
    await call('POST', '/partners', 'admin', { partnerId, name: partnerId, sector: 'third_sector', services: [{ serviceId: 'posto-letto', name: 'posto-letto', domain: 'housing', capacity: 1 }] }, 201);
    await call('POST', `/partners/${partnerId}/agreements`, 'admin', { responseDays: 5 }, 201);
    tokens[partnerId] = await infra.token({ sub: 'cf-desk', role: 'partner', partnerId });
    // the one place taken; the next referral waits for it, and is told when it frees up
    const first = await refer(await aCase(), partnerId, 'posto-letto');
    const waiting = await refer(await aCase(), partnerId, 'posto-letto');
    await call('POST', `/referrals/${first}/acceptance`, partnerId, {}, 200);
    await call('POST', `/referrals/${waiting}/waitlist`, partnerId, { expectedDate: '2027-02-01' }, 200);
    await call('POST', `/referrals/${first}/start`, partnerId, {}, 200);
    await call('POST', `/referrals/${first}/completion`, partnerId, { outcome: 'achieved' }, 200);

    const stored = await events(waiting);
    expect(stored.map((e) => e.type)).toEqual(['ReferredToPartner', 'ReferralWaitlisted', 'ReferralPlaceAvailable']);
    const ms = await eventually(async () => {
      const all = (await readAll(topic(partnerReferralsTopic(partnerId)))).filter((m) => m.key!.toString() === waiting);
      expect(all.length).toBeGreaterThanOrEqual(3);
      return all;
    }, 20_000, 250);
    const values = ms.map((m) => PartnerReferralMessage.parse(JSON.parse(m.value!.toString())));
    // at least once: a redelivery repeats a messageId, never adds another event
    const byId = new Map(values.map((v) => [v.messageId, v]));
    expect([...byId.keys()]).toEqual(stored.map((e) => e.id));
    const [, waitlisted, available] = stored;
    const facts = { referralId: waiting, partnerId, serviceId: 'posto-letto', domain: 'housing', priority: 'urgent' };
    expect(byId.get(waitlisted!.id)).toEqual({
      ...byId.get(stored[0]!.id),
      ...facts,
      messageId: waitlisted!.id,
      event: 'ReferralWaitlisted',
      status: 'on-hold',
      at: waitlisted!.time,
      expectedDate: '2027-02-01',
    });
    expect(byId.get(available!.id)).toEqual({
      ...byId.get(stored[0]!.id),
      ...facts,
      messageId: available!.id,
      event: 'ReferralPlaceAvailable',
      status: 'on-hold',
      at: available!.time,
      placeCause: 'place_released',
    });
    const headers = Object.fromEntries(Object.entries(ms.at(-1)!.headers!).map(([k, v]) => [k, String(v)]));
    expect(headers).toMatchObject({ ce_type: 'ReferralPlaceAvailable', ce_subject: `referral-${waiting}` });
    // ids and codes only: nothing of the reason, no ciphertext, no team member, nothing of the other referral
    const text = ms.map((m) => `${m.value!.toString()}${JSON.stringify(m.headers)}`).join('');
    for (const x of ['"ct"', '"iv"', 'A256GCM', 'sw-1', 'needs a place', first]) expect(text).not.toContain(x);
  });
});

describe('KAFKA_PARTNER_RESPONSES_RETENTION_MS', () => {
  const production = { NODE_ENV: 'production', JWT_JWKS_URL: 'https://idp.example/jwks', ONESTOP_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`, ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'), ONESTOP_AUDIT_SIGNING_KEY: 'x' };

  it('defaults to 7 days, is at least 1 hour in production and 1 s elsewhere, and is a number', () => {
    expect(loadConfig({}).KAFKA_PARTNER_RESPONSES_RETENTION_MS).toBe(WEEK_MS);
    expect(loadConfig({ ...production, KAFKA_PARTNER_RESPONSES_RETENTION_MS: '3600000' }).KAFKA_PARTNER_RESPONSES_RETENTION_MS).toBe(3600_000);
    expect(() => loadConfig({ ...production, KAFKA_PARTNER_RESPONSES_RETENTION_MS: '3599999' })).toThrow(/KAFKA_PARTNER_RESPONSES_RETENTION_MS: at least 3600000/);
    // tests watch the broker delete answers within seconds
    expect(loadConfig({ KAFKA_PARTNER_RESPONSES_RETENTION_MS: '1000' }).KAFKA_PARTNER_RESPONSES_RETENTION_MS).toBe(1000);
    for (const bad of ['999', '-1', 'a week', '1.5e3x']) expect(() => loadConfig({ KAFKA_PARTNER_RESPONSES_RETENTION_MS: bad }), bad).toThrow(ConfigError);
  });
});
