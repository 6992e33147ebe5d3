import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { RuleViolation, TOPICS, type RawRecordedEvent } from '@onestop/events';
import { PgDriver } from '@onestop/eventstore';
import { createTestDatabase, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { KafkaBus, deadLetterBytes, encodeCloudEvent } from '../src/index.js';
import { consentGiven, deleteTopics, rawKafka, readTopic, runPrefix, testLogger, until } from './helpers.js';

let brokers: string[];
let tdb: TestDatabase;
let pool: pg.Pool;
let raw: Kafka;
let producer: Producer;
let bus: KafkaBus;
const prefix = runPrefix('hostile');
const intakeTopic = `${prefix}${TOPICS.intake}`;

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('bushostile');
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  raw = rawKafka(brokers);
  bus = new KafkaBus({ brokers, clientId: 'bus-hostile-test', topicPrefix: prefix, partitions: 3, db: new PgDriver(pool), logger: testLogger });
  await bus.migrate();
  await bus.ensureTopics();
  producer = raw.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await bus?.close();
  await pool?.end();
  if (raw) await deleteTopics(raw, prefix);
  await tdb?.drop();
});

let position = 0;
/** A stored event as the relay would publish it. */
function valid(): RawRecordedEvent {
  position += 1;
  return { ...consentGiven(randomUUID()), streamPosition: 0, globalPosition: position, hash: randomBytes(32).toString('hex'), prevHash: null };
}
const encoded = (e: RawRecordedEvent = valid()) => {
  const m = encodeCloudEvent(e);
  return { key: m.key, value: m.value, headers: { ...m.headers } as Record<string, string | Buffer | Array<string | Buffer>> };
};
const ONE_MB = 1_000_000;

/** Hostile messages by kind, with the reason their dead letter must give. */
const hostile: Array<{ kind: string; count: number; make: () => Message; reason: RegExp }> = [
  {
    kind: 'wrong schema',
    count: 200,
    make: () => ({ ...encoded(), value: JSON.stringify({ scope: 'everything', legalBasis: 'because', recordedBy: '' }) }),
    reason: /^invalid: .*data\.scope/,
  },
  {
    kind: 'unknown type',
    count: 150,
    make: () => {
      const m = encoded();
      m.headers.ce_type = 'PersonTeleported';
      return m;
    },
    reason: /unknown event type "PersonTeleported"/,
  },
  { kind: 'invalid JSON', count: 150, make: () => ({ ...encoded(), value: '{"scope":"assessment",' }), reason: /value is not JSON/ },
  {
    kind: 'missing headers',
    count: 150,
    make: () => {
      const m = encoded();
      const drop = ['ce_id', 'ce_type', 'ce_specversion', 'ce_subject', 'ce_actor'][Math.floor(Math.random() * 5)]!;
      delete m.headers[drop];
      return Math.random() < 0.3 ? { key: m.key, value: m.value } : m;
    },
    reason: /missing header ce_/,
  },
  {
    kind: '~1 MB payload',
    count: 20,
    make: () => ({ ...encoded(), value: JSON.stringify({ scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'x'.repeat(ONE_MB - 80) }) }),
    reason: /^invalid: .*data\.recordedBy/,
  },
  {
    kind: 'binary garbage',
    count: 200,
    make: () => {
      const headers: Record<string, Buffer> = {};
      for (let i = 0; i < 3; i++) headers[`ce_${randomBytes(3).toString('hex')}`] = randomBytes(40);
      if (Math.random() < 0.5) headers.ce_specversion = Buffer.from([0xff, 0x00, 0xfe]);
      return { key: randomBytes(16), value: Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(200)]), headers };
    },
    reason: /^undecodable: (missing header|header ce_specversion is not UTF-8)/,
  },
  {
    kind: 'NUL and lone surrogates in JSON',
    count: 60,
    make: () => ({ ...encoded(), value: '{"scope":"\\u0000","legalBasis":"\\ud800","recordedBy":"\\u0000x"}' }),
    reason: /^invalid: .*data\.scope/,
  },
  {
    kind: 'key that is not the partition key',
    count: 40,
    make: () => ({ ...encoded(), key: 'someone-else' }),
    reason: /key differs from ce_partitionkey/,
  },
  {
    kind: 'huge header',
    count: 10,
    make: () => {
      const m = encoded();
      m.headers.ce_id = 'z'.repeat(200_000);
      return m;
    },
    reason: /^invalid: .*id/,
  },
  {
    kind: 'repeated header',
    count: 20,
    make: () => {
      const m = encoded();
      m.headers.ce_type = ['ConsentGiven', 'PersonalDataErased'];
      return m;
    },
    reason: /header ce_type is repeated/,
  },
];

describe('Dead-letter queue', () => {
  it('1,000 hostile messages on an internal topic all land in the DLQ (topic and SQL) with their reasons; valid ones among them are handled; the bus stays healthy', async () => {
    expect(hostile.reduce((s, h) => s + h.count, 0)).toBe(1000);
    // interleave: hostile and valid messages in random order, on every partition
    const plan: Array<{ kind: string; message: Message }> = [];
    for (const h of hostile) for (let i = 0; i < h.count; i++) plan.push({ kind: h.kind, message: h.make() });
    const validIds = new Set<string>();
    const poisonIds = new Set<string>();
    for (let i = 0; i < 102; i++) {
      const m = encoded();
      const id = String(m.headers.ce_id);
      // two valid events that the handler refuses by a rule: dead-lettered as handler failures
      if (i < 2) poisonIds.add(id);
      else validIds.add(id);
      plan.push({ kind: i < 2 ? 'poison' : 'valid', message: m });
    }
    plan.sort(() => Math.random() - 0.5);

    const started = Date.now();
    // ~1 MB messages one per request (the broker's limit is per record batch); the rest in small batches
    let pending: Message[] = [];
    const flush = async () => {
      if (pending.length) await producer.send({ topic: intakeTopic, acks: -1, messages: pending });
      pending = [];
    };
    for (const p of plan) {
      if (p.kind === '~1 MB payload') {
        await flush();
        await producer.send({ topic: intakeTopic, acks: -1, messages: [p.message] });
      } else {
        pending.push(p.message);
        if (pending.length >= 50) await flush();
      }
    }
    await flush();
    const produceMs = Date.now() - started;

    const handled = new Set<string>();
    const group = `hostile-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        const poison = batch.find((e) => poisonIds.has(e.id));
        if (poison) throw new RuleViolation('not_for_this_projection', `refusing ${poison.id}`);
        for (const e of batch) handled.add(e.id);
      },
    });
    try {
      const deadLetterCount = async () =>
        (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM bus.dead_letters WHERE consumer_group = $1', [group])).rows[0]!.n;
      await until('every message handled or dead-lettered', async () => handled.size === validIds.size && (await deadLetterCount()) === 1002, 90_000, 250);
      const consumeMs = Date.now() - started - produceMs;
      console.log(`hostile: produced ${plan.length} messages in ${produceMs} ms, consumed and dead-lettered in ${consumeMs} ms`);

      // every valid message handled, exactly the valid ones
      expect([...validIds].every((id) => handled.has(id))).toBe(true);
      expect(handled.size).toBe(100);

      // SQL: one dead letter per message, with its reason
      const letters = await bus.deadLetters(group, 5000);
      expect(letters).toHaveLength(1002);
      expect(new Set(letters.map((l) => l.origin)).size).toBe(1002);
      for (const l of letters) expect(l.reason.length).toBeGreaterThan(5);
      expect(letters.filter((l) => l.reason.startsWith('handler_failed: not_for_this_projection'))).toHaveLength(2);
      const big = letters.filter((l) => (l.payload as { truncated?: boolean } | null)?.truncated);
      expect(big.length).toBeGreaterThanOrEqual(20);

      // the DLQ topic: original key and value bytes, dlq_ headers, one record per message (counted by origin)
      const dlq = await readTopic(raw, `${prefix}${TOPICS.dlq}`, {
        done: (ms) => new Set(ms.map((m) => `${m.headers!.dlq_partition}@${m.headers!.dlq_offset}`)).size >= 1002,
        timeoutMs: 60_000,
      });
      const byOrigin = new Map(dlq.map((m) => [`${intakeTopic}/${m.headers!.dlq_partition}@${m.headers!.dlq_offset}`, m]));
      expect(byOrigin.size).toBe(1002);
      for (const m of dlq) {
        for (const h of ['dlq_reason', 'dlq_topic', 'dlq_partition', 'dlq_offset', 'dlq_group', 'dlq_time']) expect(m.headers![h], h).toBeDefined();
        expect(String(m.headers!.dlq_topic)).toBe(intakeTopic);
        expect(String(m.headers!.dlq_group)).toBe(group);
      }
      // reasons by kind, matched through the original offsets
      const reasonOf = new Map(letters.map((l) => [l.origin, l.reason]));
      const original = await readTopic(raw, intakeTopic, { count: plan.length, timeoutMs: 60_000 });
      let truncated = 0;
      for (const o of original) {
        const origin = `${intakeTopic}/${o.partition}@${o.offset}`;
        const id = o.headers?.ce_id ? String(o.headers.ce_id) : '';
        if (validIds.has(id) && !reasonOf.has(origin)) continue;
        const copy = byOrigin.get(origin);
        expect(copy, `DLQ copy of ${origin}`).toBeDefined();
        expect(reasonOf.get(origin), `SQL dead letter of ${origin}`).toBeDefined();
        expect(String(copy!.headers!.dlq_reason)).toBe(reasonOf.get(origin)!.slice(0, 2000));
        // original key; the value as a dead letter keeps it (free text and non-JSON bytes
        // only as their digest), or its head with a header saying so
        expect(copy!.key).toEqual(o.key);
        const kept = deadLetterBytes(o.value)!;
        if (String(copy!.headers!.dlq_truncated ?? '').includes('value cut')) {
          truncated += 1;
          expect(kept.length).toBeGreaterThan(copy!.value!.length);
          expect(kept.subarray(0, copy!.value!.length).equals(copy!.value!)).toBe(true);
        } else {
          expect(copy!.value).toEqual(kept);
        }
      }
      expect(truncated).toBeGreaterThanOrEqual(20);
      const kinds = new Map<string, number>();
      for (const h of hostile) {
        const n = letters.filter((l) => h.reason.test(l.reason)).length;
        kinds.set(h.kind, n);
      }
      for (const h of hostile) expect(kinds.get(h.kind), `dead letters with the reason of "${h.kind}"`).toBeGreaterThanOrEqual(h.count);

      // still healthy, still consuming
      expect(await bus.healthy()).toBe(true);
      const after = encoded();
      await producer.send({ topic: intakeTopic, acks: -1, messages: [after] });
      await until('a valid message after the storm to be handled', () => handled.has(String(after.headers.ce_id)), 20_000);
    } finally {
      await consumer.stop();
    }
  });

  it('falls back to key and dlq_ headers when the DLQ topic refuses the copy (a smaller max.message.bytes)', async () => {
    const small = runPrefix('dlqsmall');
    const admin = raw.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: `${small}${TOPICS.dlq}`, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }],
      });
    } finally {
      await admin.disconnect();
    }
    const strict = new KafkaBus({ brokers, clientId: 'bus-dlq-small-test', topicPrefix: small, partitions: 1, db: new PgDriver(pool), logger: testLogger });
    try {
      await strict.ensureTopics();
      const m = { ...encoded(), value: JSON.stringify({ scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'y'.repeat(100_000) }) };
      await producer.send({ topic: `${small}${TOPICS.intake}`, acks: -1, messages: [m] });
      const group = `small-${randomUUID()}`;
      const consumer = await strict.consume({ group, topics: [TOPICS.intake], handle: async () => undefined });
      try {
        await until('the dead letter in SQL', async () => (await strict.deadLetters(group)).length === 1, 30_000);
        const [copy] = await readTopic(raw, `${small}${TOPICS.dlq}`, { count: 1 });
        expect(copy!.key!.toString()).toBe(m.key);
        expect(copy!.value).toBeNull();
        expect(String(copy!.headers!.dlq_truncated)).toMatch(/value \(\d+ bytes\) and headers dropped: .*original at/);
        expect(String(copy!.headers!.dlq_reason)).toMatch(/data\.recordedBy/);
      } finally {
        await consumer.stop();
      }
    } finally {
      await strict.close();
      await deleteTopics(raw, small);
    }
  });
});
