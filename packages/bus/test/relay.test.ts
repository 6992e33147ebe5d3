import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { TOPICS, type OneStopEvent, type RecordedEvent } from '@onestop/events';
import { PgDriver, createPostgresEventStore, type SqlEventStore, type SubscribeOptions } from '@onestop/eventstore';
import { createTestDatabase, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { KafkaRelay, createKafkaBus, internalTopicsOutput, type KafkaBus } from '../src/index.js';
import { assessmentCancelled, capacityChanged, consentGiven, deleteTopics, rawKafka, readTopic, runPrefix, testLogger, until } from './helpers.js';

let brokers: string[];
let tdb: TestDatabase;
let store: SqlEventStore;
let pool: pg.Pool;
let raw: Kafka;
let bus: KafkaBus;
const prefix = runPrefix('relay');
const topic = (t: string) => `${prefix}${t}`;

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('busrelay');
  store = await createPostgresEventStore({ connectionString: tdb.url, maxConnections: 6 });
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  raw = rawKafka(brokers);
  // the factory openInfrastructure uses, on this run's own topics
  bus = await createKafkaBus(
    {
      config: { KAFKA_BROKERS: brokers, KAFKA_CLIENT_ID: 'bus-relay-test', KAFKA_PARTITIONS: 3, DATABASE_URL: tdb.url },
      store,
      db: new PgDriver(pool),
      logger: testLogger,
    },
    { topicPrefix: prefix },
  );
});

afterAll(async () => {
  await bus?.close();
  await store?.close();
  await pool?.end();
  if (raw) await deleteTopics(raw, prefix);
  await tdb?.drop();
});

async function append(events: OneStopEvent[]): Promise<number> {
  let head = 0;
  for (const e of events) head = Math.max(head, ...(await store.append(e.subject, [e], 'any')).globalPositions);
  return head;
}

describe('Kafka relay', () => {
  it('createKafkaBus creates every internal topic with KAFKA_PARTITIONS partitions and starts the relay', async () => {
    const admin = raw.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: Object.values(TOPICS).map(topic) });
      expect(topics.map((t) => t.name).sort()).toEqual(Object.values(TOPICS).map(topic).sort());
      for (const t of topics) expect(t.partitions).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }
    expect(await bus.healthy()).toBe(true);
    await until('the relay to take its lock', () => bus.relay!.stats.active, 10_000);
  });

  it('publishes appended events onto their topics, keyed by person or partner, with every CloudEvents header', async () => {
    const people = [randomUUID(), randomUUID(), randomUUID()];
    const events = [
      ...people.flatMap((p) => [consentGiven(p), consentGiven(p)]),
      capacityChanged('caritas-pt', 10),
      capacityChanged('arci-pt', 4),
      assessmentCancelled(randomUUID(), people[0]!),
    ];
    const head = await append(events);
    // a stream with no topic stays in the store
    const scratch = await store.append('scratch-1', [{ ...consentGiven(people[0]!), subject: 'scratch-1' }], 'any');
    await bus.relay!.reached(scratch.globalPositions[0]!, 20_000);
    // stored within checkpointEveryMs (100 ms) of being relayed
    await until('the relay checkpoint stored', async () => ((await store.loadCheckpoint('relay:kafka')) ?? 0) >= scratch.globalPositions[0]!, 5_000, 20);
    expect(bus.relay!.stats).toMatchObject({ active: true, published: 9, failures: 0 });
    expect(head).toBeLessThan(scratch.globalPositions[0]!);

    const intake = await readTopic(raw, topic(TOPICS.intake), { count: 6 });
    const directory = await readTopic(raw, topic(TOPICS.directory), { count: 2 });
    const assessment = await readTopic(raw, topic(TOPICS.assessment), { count: 1 });
    expect([intake.length, directory.length, assessment.length]).toEqual([6, 2, 1]);
    expect(directory.map((m) => m.key!.toString()).sort()).toEqual(['arci-pt', 'caritas-pt']);
    expect(assessment[0]!.key!.toString()).toBe(people[0]);

    const stored = new Map((await store.readAll()).map((e) => [e.id, e]));
    for (const m of [...intake, ...directory, ...assessment]) {
      const h = Object.fromEntries(Object.entries(m.headers!).map(([k, v]) => [k, String(v)]));
      const e = stored.get(h.ce_id!)!;
      expect(e, `event ${h.ce_id} is in the store`).toBeDefined();
      expect(m.key!.toString()).toBe(e.partitionKey);
      expect(JSON.parse(m.value!.toString())).toEqual(e.data);
      expect(h).toEqual({
        ce_specversion: '1.0',
        ce_id: e.id,
        ce_type: e.type,
        ce_source: e.source,
        ce_subject: e.subject,
        ce_time: e.time,
        'content-type': 'application/json',
        ce_dataschema: `https://onestop.example/schemas/${e.type}.v1.schema.json`,
        ce_schemaversion: '1',
        ce_partitionkey: e.partitionKey,
        ce_correlationid: e.correlationId,
        ce_actor: JSON.stringify(e.actor),
        ce_streamposition: String(e.streamPosition),
        ce_globalposition: String(e.globalPosition),
        ce_hash: e.hash,
        ...(e.prevHash ? { ce_prevhash: e.prevHash } : {}),
      });
    }
    // one key, one partition, stream order
    for (const p of people) {
      const mine = intake.filter((m) => m.key!.toString() === p);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      expect(mine.map((m) => String(m.headers!.ce_streamposition))).toEqual(['0', '1']);
    }
  });

  it('delivers to a consumer group what is appended (store → relay → topic → bus)', async () => {
    const received: RecordedEvent[] = [];
    const consumer = await bus.consume({
      group: `g-${randomUUID()}`,
      topics: [TOPICS.intake],
      handle: async (batch) => void received.push(...batch),
    });
    try {
      const e = consentGiven(randomUUID());
      await append([e]);
      await until('the appended event to reach the consumer', () => received.some((r) => r.id === e.id), 20_000);
      expect(received.find((r) => r.id === e.id)).toMatchObject({ type: 'ConsentGiven', subject: e.subject, hash: expect.any(String) });
    } finally {
      await consumer.stop();
    }
  });

  it('a relay whose checkpoint cannot be loaded gives its lock up and starts over from the checkpoint, never from 0', async () => {
    const name = `relay:restart-${randomUUID()}`;
    const person = randomUUID();
    const head = await append([consentGiven(person), consentGiven(person)]);
    await store.saveCheckpoint(name, head - 1);
    let failing = true;
    // the real store, its checkpoint loads failing on demand, with a short load budget
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'loadCheckpoint') return (n: string) => (failing ? Promise.reject(new Error('injected: connection reset')) : target.loadCheckpoint(n));
        if (prop === 'subscribeToAll') return (o: SubscribeOptions) => target.subscribeToAll.call(receiver, { ...o, checkpointLoadTimeoutMs: 300 });
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as SqlEventStore;
    const errors: string[] = [];
    const relay = new KafkaRelay({
      kafka: bus.kafka,
      store: flaky,
      lockConnectionString: tdb.url,
      checkpoint: name,
      outputs: [internalTopicsOutput(prefix)],
      standbyRetryMs: 200,
      logger: { info: () => undefined, warn: () => undefined, error: (_o: object, m?: string) => void errors.push(m ?? '') },
    });
    try {
      await until('the subscription to fail for good', () => errors.some((m) => m.includes('giving the lock up')), 15_000);
      expect(relay.stats.published).toBe(0);
      failing = false;
      await relay.reached(head, 20_000);
      // started over from the stored checkpoint: only the event after it was published
      expect(relay.stats.published).toBe(1);
      await until('the checkpoint stored', async () => (await store.loadCheckpoint(name)) === head, 5_000, 20);
    } finally {
      await relay.stop();
    }
  });

  it('lets one relay publish at a time: another stands by and takes over when the lock connection drops', async () => {
    const first = bus.relay!;
    const second = new KafkaRelay({
      kafka: bus.kafka,
      store,
      lockConnectionString: tdb.url,
      outputs: [internalTopicsOutput(prefix)],
      standbyRetryMs: 300,
      logger: testLogger,
    });
    let both = 0;
    const watch = setInterval(() => {
      if (first.stats.active && second.stats.active) both += 1;
    }, 10);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect(first.stats.active).toBe(true);
      expect(second.stats.active).toBe(false);

      // cut the active relay's lock session, as a network partition or failover would
      const { rows } = await pool.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND classid = 7411080 AND objsubid = 2
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(rows).toHaveLength(1);
      await until('the second relay to take over', () => second.stats.active, 10_000);
      expect(first.stats.active).toBe(false);

      const people = Array.from({ length: 20 }, () => randomUUID());
      const head = await append(people.map((p) => consentGiven(p)));
      await second.reached(head, 20_000);
      expect(second.stats.published).toBeGreaterThanOrEqual(20);
      const wanted = new Set(people);
      const seen = await readTopic(raw, topic(TOPICS.intake), {
        done: (ms) => [...wanted].every((p) => ms.some((m) => m.key?.toString() === p)),
        timeoutMs: 20_000,
      });
      expect(seen.length).toBeGreaterThanOrEqual(26);
      // the first, back on stand-by, does not publish while the second holds the lock
      await new Promise((r) => setTimeout(r, 500));
      expect(first.stats.active).toBe(false);
      // at most the instant between the server ending the session and the old holder noticing it
      expect(both).toBeLessThanOrEqual(5);
    } finally {
      clearInterval(watch);
      await second.stop();
    }
    // the first takes the lock back once the second released it
    await until('the first relay to take the lock back', () => first.stats.active, 10_000);
  });
});
