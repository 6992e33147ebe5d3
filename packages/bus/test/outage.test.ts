import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { TOPICS } from '@onestop/events';
import { PgDriver, createPostgresEventStore, type SqlEventStore } from '@onestop/eventstore';
import { createTestDatabase, kafkaControl, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { KafkaBus } from '../src/index.js';
import { EffectTable, assessmentCancelled, consentGiven, deleteTopics, rawKafka, runPrefix, sleep, testLogger, until } from './helpers.js';

// This test stops its broker for 10 s. It gets a broker of its own (infra/kafka
// on another port and data dir) so the other test files, which share the usual
// one, are not stopped with it. Against an external KAFKA_BROKERS cluster it
// cannot stop anything, and says so.
const external = Boolean(process.env.KAFKA_BROKERS);
const OWN_PORT = '19192';
const previousPort = process.env.ONESTOP_TEST_KAFKA_PORT;

let brokers: string[];
let tdb: TestDatabase;
let store: SqlEventStore;
let pool: pg.Pool;
let raw: Kafka;
let bus: KafkaBus;
let effects: EffectTable;
const prefix = runPrefix('outage');

beforeAll(async () => {
  if (external) {
    console.warn('broker outage test skipped: KAFKA_BROKERS names an external cluster, which a test must not stop');
    return;
  }
  process.env.ONESTOP_TEST_KAFKA_PORT = OWN_PORT;
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('busoutage');
  store = await createPostgresEventStore({ connectionString: tdb.url, maxConnections: 6 });
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  pool.on('error', () => undefined);
  raw = rawKafka(brokers);
  effects = new EffectTable(tdb.url);
  await effects.migrate();
  bus = new KafkaBus({
    brokers,
    clientId: 'bus-outage-test',
    topicPrefix: prefix,
    partitions: 3,
    db: new PgDriver(pool),
    logger: testLogger,
    consumer: { sessionTimeout: 10_000, heartbeatInterval: 1000 },
  });
  await bus.migrate();
  await bus.ensureTopics();
  bus.startRelay(store, { lockConnectionString: tdb.url });
});

afterAll(async () => {
  if (external) return;
  await bus?.close();
  await store?.close();
  await effects?.close();
  await pool?.end();
  if (raw) await deleteTopics(raw, prefix);
  await tdb?.drop();
  await kafkaControl('stop').catch((e) => console.error('stopping the outage test broker failed', e));
  if (previousPort === undefined) delete process.env.ONESTOP_TEST_KAFKA_PORT;
  else process.env.ONESTOP_TEST_KAFKA_PORT = previousPort;
});

describe('Kafka broker outage', () => {
  it.skipIf(external)('appends go on while the broker is down for 10 s; afterwards the relay resumes and every event is applied exactly once', async () => {
    const consumer = await bus.consume({
      group: `outage-${randomUUID()}`,
      topics: [TOPICS.intake, TOPICS.assessment],
      batchSize: 100,
      handle: (batch) => effects.apply(batch),
    });
    await consumer.joined(20_000);

    // a steady stream of appends from a few "services", for the whole test
    const ids = new Set<string>();
    let writing = true;
    let head = 0;
    const people = Array.from({ length: 25 }, () => randomUUID());
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const p = people[i % people.length]!;
        const e = i % 5 === 4 ? assessmentCancelled(randomUUID(), p) : consentGiven(p);
        const r = await store.append(e.subject, [e], 'any');
        ids.add(e.id);
        head = Math.max(head, ...r.globalPositions);
        await sleep(15);
      }
    })();

    await sleep(2000);
    const beforeOutage = ids.size;
    const stoppedAt = Date.now();
    await kafkaControl('stop');
    const healthyDuring = await bus.healthy();
    await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
    const duringOutage = ids.size - beforeOutage;
    await kafkaControl('start');
    const restartedAt = Date.now();
    await sleep(2000);
    writing = false;
    await writer;

    await bus.relay!.reached(head, 60_000);
    const relayCaughtUpMs = Date.now() - restartedAt;
    await until(
      `all ${ids.size} events applied`,
      async () => {
        const applied = await effects.appliedIds();
        return [...ids].every((id) => applied.has(id));
      },
      60_000,
      250,
    );
    const s = await effects.summary();
    console.log(
      `outage: ${ids.size} events (${duringOutage} appended while the broker was down); relay caught up ${relayCaughtUpMs} ms after the restart; ` +
        `relay published ${bus.relay!.stats.published} messages with ${bus.relay!.stats.failures} failed attempts; ` +
        `${s.deliveries} deliveries for ${s.distinct} effects; consumer restarts ${consumer.stats.restarts}`,
    );
    expect(duringOutage).toBeGreaterThan(100);
    expect(healthyDuring).toBe(false);
    expect(bus.relay!.stats.failures).toBeGreaterThan(0);
    expect(bus.relay!.stats.published).toBeGreaterThanOrEqual(ids.size);
    // exactly once in effect, whatever the redeliveries
    expect(s.distinct).toBe(ids.size);
    expect(s.total).toBe(ids.size);
    expect(s.maxApplications).toBe(1);
    expect(await bus.deadLetters()).toEqual([]);
    expect(await bus.healthy()).toBe(true);
    await consumer.stop();
  }, 150_000);
});
