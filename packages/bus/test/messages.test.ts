import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { RuleViolation, TOPICS } from '@onestop/events';
import { PgDriver } from '@onestop/eventstore';
import { createTestDatabase, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { KafkaBus, jsonValue, type Parsed, type ReceivedMessage } from '../src/index.js';
import { deleteTopics, rawKafka, readTopic, runPrefix, testLogger, until } from './helpers.js';

// consumeMessages: consumers of topics that carry no catalog events (a
// partner's answers) on the same batch, commit and dead-letter path as the
// internal topics; publish and createTopics for topics outside the internal set.

let brokers: string[];
let tdb: TestDatabase;
let pool: pg.Pool;
let raw: Kafka;
let producer: Producer;
let bus: KafkaBus;
const prefix = runPrefix('messages');
const groupPrefix = `g.${randomUUID().slice(0, 8)}.`;

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('busmessages');
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  raw = rawKafka(brokers);
  bus = new KafkaBus({ brokers, clientId: 'bus-messages-test', topicPrefix: prefix, groupPrefix, partitions: 2, db: new PgDriver(pool), logger: testLogger });
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

interface Order {
  orderId: string;
  quantity: number;
  topic: string;
}

/** A strict little parser: JSON with a uuid orderId and a positive quantity. */
function parseOrder(m: ReceivedMessage): Parsed<Order> {
  if (m.headers['x-explode'] === 'yes') throw new Error('the parser exploded');
  const json = jsonValue(m);
  if (!json.ok) return json;
  const v = json.value as Partial<Order>;
  if (typeof v.orderId !== 'string' || !/^[0-9a-f-]{36}$/.test(v.orderId)) return { ok: false, reason: 'invalid: orderId' };
  if (typeof v.quantity !== 'number' || v.quantity < 1) return { ok: false, reason: 'invalid: quantity' };
  if (m.key !== v.orderId) return { ok: false, reason: 'invalid: key differs from orderId' };
  return { ok: true, value: { orderId: v.orderId, quantity: v.quantity, topic: m.topic } };
}

const order = (quantity = 1, orderId = randomUUID()) => ({ key: orderId, value: JSON.stringify({ orderId, quantity }) });

describe('consumeMessages', () => {
  it('hands parsed messages to the handler and dead-letters the invalid and the refused (DLQ topic and SQL), with their reasons', async () => {
    const topic = 'orders.v1';
    expect(await bus.createTopics([topic])).toEqual([topic]);
    expect(await bus.createTopics([topic])).toEqual([]);
    const good = [order(1), order(2), order(3)];
    const refused = order(99);
    await producer.send({
      topic: `${prefix}${topic}`,
      acks: -1,
      messages: [
        good[0]!,
        { key: 'x', value: '{"orderId":' },
        good[1]!,
        { ...order(0) },
        { ...order(1), headers: { 'x-explode': 'yes' } },
        { key: randomUUID(), value: JSON.stringify({ orderId: randomUUID(), quantity: 1 }) },
        refused,
        { key: null, value: Buffer.from([0xff, 0xfe]) },
        good[2]!,
      ],
    });
    const handled: Order[] = [];
    const group = `orders-${randomUUID()}`;
    const consumer = await bus.consumeMessages<Order>({
      group,
      topics: [topic],
      parse: parseOrder,
      handle: async (batch) => {
        // a refusal is permanent (a OneStopError under 500): no retries, the one message goes to the DLQ
        if (batch.some((o) => o.quantity === 99)) throw new RuleViolation('too_many', 'no more than 10 at a time');
        for (const o of batch) if (!handled.some((h) => h.orderId === o.orderId)) handled.push(o);
      },
    });
    try {
      await until('every message handled or dead-lettered', async () => handled.length === 3 && (await bus.deadLetters(group)).length === 6, 30_000);
      expect(consumer.topics).toEqual([topic]);
      expect(handled.map((o) => o.orderId).sort()).toEqual(good.map((g) => g.key).sort());
      expect(handled.every((o) => o.topic === topic)).toBe(true);
      const reasons = (await bus.deadLetters(group)).map((l) => l.reason).sort();
      expect(reasons).toEqual(
        [
          'handler_failed: too_many: no more than 10 at a time',
          'invalid: key differs from orderId',
          'invalid: quantity',
          'invalid: the parser failed: the parser exploded',
          'invalid: value is not JSON',
          'invalid: value is not UTF-8',
        ].sort(),
      );
      const letters = await bus.deadLetters(group);
      expect(letters.find((l) => l.reason.startsWith('handler_failed'))).toMatchObject({ key: refused.key, payload: JSON.parse(refused.value) });
      // the DLQ topic has the original bytes of the same six, with the reason and the origin
      const dlq = await readTopic(raw, `${prefix}${TOPICS.dlq}`, { done: (ms) => ms.filter((m) => String(m.headers?.dlq_group) === group).length >= 6 });
      const mine = dlq.filter((m) => String(m.headers?.dlq_group) === group);
      expect(mine.map((m) => String(m.headers!.dlq_reason)).sort()).toEqual(reasons);
      expect(mine.every((m) => String(m.headers!.dlq_topic) === `${prefix}${topic}`)).toBe(true);
      expect(mine.find((m) => String(m.headers!.dlq_reason).startsWith('handler_failed'))!.value!.toString()).toBe(refused.value);
      expect(consumer.stats).toMatchObject({ handled: 3, deadLettered: 6 });
      // the group id carries the test prefix
      const admin = raw.admin();
      await admin.connect();
      try {
        const { groups } = await admin.listGroups();
        expect(groups.map((g) => g.groupId)).toContain(`${groupPrefix}${group}`);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await consumer.stop();
    }
  });

  it('subscribes by pattern to the topics that exist, and to new ones after refresh()', async () => {
    await bus.createTopics(['shop.alpha.orders.v1', 'shop.other.v1']);
    const handled: Order[] = [];
    const consumer = await bus.consumeMessages<Order>({
      group: `pattern-${randomUUID()}`,
      topicPattern: /^shop\.[a-z]+\.orders\.v1$/g,
      parse: parseOrder,
      handle: async (batch) => {
        handled.push(...batch);
      },
    });
    try {
      expect(consumer.topics).toEqual(['shop.alpha.orders.v1']);
      await producer.send({ topic: `${prefix}shop.alpha.orders.v1`, acks: -1, messages: [order(1)] });
      await producer.send({ topic: `${prefix}shop.other.v1`, acks: -1, messages: [order(1)] });
      await until('the alpha order', () => handled.length === 1);

      // a topic created later: not consumed until refresh()
      await bus.createTopics(['shop.beta.orders.v1']);
      await producer.send({ topic: `${prefix}shop.beta.orders.v1`, acks: -1, messages: [order(5)] });
      expect(await consumer.refresh()).toEqual(['shop.alpha.orders.v1', 'shop.beta.orders.v1']);
      await until('the beta order', () => handled.some((o) => o.topic === 'shop.beta.orders.v1'));
      // nothing twice, nothing of the topic that does not match
      expect(handled.map((o) => o.topic).sort()).toEqual(['shop.alpha.orders.v1', 'shop.beta.orders.v1']);
      // an explicit list replaces the pattern's selection
      expect(await consumer.refresh(['shop.beta.orders.v1'])).toEqual(['shop.beta.orders.v1']);
      await consumer.joined();
    } finally {
      await consumer.stop();
    }
  });

  it('a consumer with nothing to consume yet starts, and begins after refresh()', async () => {
    const handled: Order[] = [];
    const consumer = await bus.consumeMessages<Order>({
      group: `empty-${randomUUID()}`,
      topicPattern: /^late\.orders\.v1$/,
      parse: parseOrder,
      handle: async (batch) => {
        handled.push(...batch);
      },
    });
    try {
      expect(consumer.topics).toEqual([]);
      await consumer.joined(100);
      await bus.createTopics(['late.orders.v1']);
      await producer.send({ topic: `${prefix}late.orders.v1`, acks: -1, messages: [order(2)] });
      expect(await consumer.refresh()).toEqual(['late.orders.v1']);
      await until('the late order', () => handled.length === 1);
    } finally {
      await consumer.stop();
    }
  });
});

describe('publish', () => {
  it('sends to topics outside the internal set with the idempotent producer, in order per key', async () => {
    await bus.createTopics(['out.a.v1', 'out.b.v1']);
    const key = randomUUID();
    await bus.publish([
      { topic: 'out.a.v1', message: { key, value: '1', headers: { h: 'x' } } },
      { topic: 'out.b.v1', message: { key, value: 'b' } },
      { topic: 'out.a.v1', message: { key, value: '2' } },
    ]);
    await bus.publish([{ topic: 'out.a.v1', message: { key, value: '3' } }]);
    const a = await readTopic(raw, `${prefix}out.a.v1`, { count: 3 });
    expect(a.map((m) => m.value!.toString())).toEqual(['1', '2', '3']);
    expect(a[0]!.headers!.h!.toString()).toBe('x');
    expect((await readTopic(raw, `${prefix}out.b.v1`, { count: 1 })).map((m) => m.value!.toString())).toEqual(['b']);
    // auto-creation is off: a topic that does not exist is an error, not a new topic
    await expect(bus.publish([{ topic: 'out.missing.v1', message: { key, value: 'x' } }])).rejects.toThrow();
    await bus.publish([{ topic: 'out.a.v1', message: { key, value: '4' } }]);
  }, 90_000);
});
