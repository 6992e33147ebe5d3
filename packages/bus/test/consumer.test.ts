import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { TOPICS, type OneStopEvent, type RecordedEvent } from '@onestop/events';
import { PgDriver, createPostgresEventStore, type SqlEventStore } from '@onestop/eventstore';
import { createTestDatabase, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { KafkaBus, type KafkaRunningConsumer } from '../src/index.js';
import { EffectTable, consentGiven, deleteTopics, rawKafka, runPrefix, sleep, testLogger, until } from './helpers.js';

let brokers: string[];
let tdb: TestDatabase;
let store: SqlEventStore;
let pool: pg.Pool;
let raw: Kafka;
let bus: KafkaBus;
const prefix = runPrefix('consumer');

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('busconsumer');
  store = await createPostgresEventStore({ connectionString: tdb.url, maxConnections: 6 });
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  raw = rawKafka(brokers);
  bus = new KafkaBus({
    brokers,
    clientId: 'bus-consumer-test',
    topicPrefix: prefix,
    partitions: 3,
    db: new PgDriver(pool),
    logger: testLogger,
    // members learn of a rebalance by their next heartbeat
    consumer: { heartbeatInterval: 1000 },
  });
  await bus.migrate();
  await bus.ensureTopics();
  bus.startRelay(store, { lockConnectionString: tdb.url });
});

afterAll(async () => {
  await bus?.close();
  await store?.close();
  await pool?.end();
  if (raw) await deleteTopics(raw, prefix);
  await tdb?.drop();
});

/** Appends `n` events of `people` persons and waits until the relay has published them. */
async function publish(n: number, people = 30): Promise<Set<string>> {
  const persons = Array.from({ length: people }, () => randomUUID());
  const events: OneStopEvent[] = Array.from({ length: n }, (_, i) => consentGiven(persons[i % people]!));
  let head = 0;
  // a few events per append, as services do
  for (let i = 0; i < events.length; i += 10) {
    await Promise.all(
      events.slice(i, i + 10).map(async (e) => {
        const r = await store.append(e.subject, [e], 'any');
        head = Math.max(head, ...r.globalPositions);
      }),
    );
  }
  await bus.relay!.reached(head, 30_000);
  return new Set(events.map((e) => e.id));
}

describe('Kafka consumer groups: at-least-once, effects once', () => {
  it('retries a batch whose handler throws after applying half of it; no effect is doubled', async () => {
    const ids = await publish(300);
    const effects = new EffectTable(tdb.url, 'effect_retry');
    await effects.migrate();
    let thrown = false;
    const consumer = await bus.consume({
      group: `retry-${randomUUID()}`,
      topics: [TOPICS.intake],
      batchSize: 100,
      handle: async (batch) => {
        const mine = batch.filter((e) => ids.has(e.id));
        if (!thrown && mine.length >= 2) {
          await effects.apply(mine.slice(0, Math.floor(mine.length / 2)));
          thrown = true;
          throw new Error('crash after applying half');
        }
        await effects.apply(mine);
      },
    });
    try {
      await until('every event applied', async () => (await effects.summary()).distinct === ids.size, 30_000);
      const s = await effects.summary();
      expect(thrown).toBe(true);
      expect(s).toMatchObject({ distinct: 300, total: 300, maxApplications: 1 });
      expect(s.deliveries).toBeGreaterThan(300);
      expect(await bus.deadLetters(consumer.group)).toEqual([]);
    } finally {
      await consumer.stop();
      await effects.close();
    }
  });

  it('handles batches of several partitions at once when asked to (concurrency), one at a time by default', async () => {
    const ids = await publish(300);
    const run = async (concurrency: number | undefined) => {
      let running = 0;
      let most = 0;
      const seen = new Set<string>();
      const consumer = await bus.consume({
        group: `concurrency-${concurrency ?? 'default'}-${randomUUID()}`,
        topics: [TOPICS.intake],
        batchSize: 20,
        ...(concurrency ? { concurrency } : {}),
        handle: async (batch) => {
          running += 1;
          most = Math.max(most, running);
          await sleep(50);
          for (const e of batch) if (ids.has(e.id)) seen.add(e.id);
          running -= 1;
        },
      });
      try {
        await until('every event handled', () => seen.size === ids.size, 30_000);
      } finally {
        await consumer.stop();
      }
      return most;
    };
    expect(await run(undefined)).toBe(1);
    expect(await run(3)).toBeGreaterThan(1);
  });

  it('a consumer stopped in the middle of a batch: a new member of the group goes on from the last commit, nothing lost, nothing doubled', async () => {
    const group = `stop-${randomUUID()}`;
    const effects = new EffectTable(tdb.url, 'effect_stop');
    await effects.migrate();
    let calls = 0;
    const holder: { first?: KafkaRunningConsumer } = {};
    let stopping: Promise<void> | undefined;
    const first = await bus.consume({
      group,
      topics: [TOPICS.intake],
      batchSize: 50,
      handle: async (batch) => {
        calls += 1;
        // a batch of one has no "half" to apply: wait for one with at least two events,
        // so the redelivered chunk is seen to come again
        if (calls >= 3 && batch.length >= 2 && !stopping && holder.first) {
          await effects.apply(batch.slice(0, Math.floor(batch.length / 2)));
          // the process is going away: the half-done chunk must stay uncommitted
          stopping = holder.first.stop();
          throw new Error('stopped mid-batch');
        }
        await effects.apply(batch);
      },
    });
    holder.first = first;
    await first.joined(20_000);
    const ids = await publish(600);
    await until('the first consumer to be stopped mid-batch', () => stopping !== undefined, 30_000);
    await stopping;
    const before = await effects.summary();
    expect(before.distinct).toBeGreaterThan(0);
    expect(before.distinct).toBeLessThan(ids.size + 300);

    const second = await bus.consume({ group, topics: [TOPICS.intake], batchSize: 50, handle: (batch) => effects.apply(batch) });
    try {
      const all = async () => {
        const applied = await effects.appliedIds();
        return [...ids].every((id) => applied.has(id));
      };
      await until('every event applied after the takeover', all, 30_000);
      const s = await effects.summary();
      expect(s.total).toBe(s.distinct);
      expect(s.maxApplications).toBe(1);
      // the half-applied chunk came again, and only the uncommitted part did
      expect(s.deliveries).toBeGreaterThan(s.distinct);
      expect(first.stats.commits).toBeGreaterThanOrEqual(2);
      expect(second.stats.handled).toBeLessThan(s.distinct);
    } finally {
      await second.stop();
      await effects.close();
    }
  });

  it('a consumer process killed (SIGKILL) in the middle of a batch: its partitions go to a new member, nothing lost, nothing doubled', async () => {
    const group = `kill-${randomUUID()}`;
    const table = 'effect_kill';
    const effects = new EffectTable(tdb.url, table);
    await effects.migrate();
    const ids = await publish(400);
    const child: ChildProcess = spawn(
      process.execPath,
      ['--conditions=onestop-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/consumer-process.ts', import.meta.url))],
      {
        env: { ...process.env, DB_URL: tdb.url, EFFECT_TABLE: table, BROKERS: brokers.join(','), PREFIX: prefix, GROUP: group, BATCH_SIZE: '40' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let halves = 0;
    let dones = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.startsWith('half')) halves += 1;
        if (line.startsWith('done')) dones += 1;
      }
    });
    try {
      // killed between the two halves of its third batch
      await until('the child to be half-way through its third batch', () => halves >= 3 && dones === 2, 30_000, 10);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const before = await effects.summary();
    expect(before.distinct).toBeLessThan(ids.size);

    const second = await bus.consume({ group, topics: [TOPICS.intake], batchSize: 40, handle: (batch) => effects.apply(batch) });
    try {
      await until(
        'every event applied after the takeover',
        async () => {
          const applied = await effects.appliedIds();
          return [...ids].every((id) => applied.has(id));
        },
        40_000,
      );
      const s = await effects.summary();
      expect(s.total).toBe(s.distinct);
      expect(s.maxApplications).toBe(1);
      expect(s.deliveries).toBeGreaterThan(s.distinct);
    } finally {
      await second.stop();
      await effects.close();
    }
  });

  it('a member joining mid-batch: the group rebalances, both share the partitions, nothing lost, nothing doubled', async () => {
    await publish(900);
    const all = new Set((await store.readAll({ streamPrefix: 'person-', maxCount: 100_000 })).map((e) => e.id));
    const group = `rebalance-${randomUUID()}`;
    const effects = new EffectTable(tdb.url, 'effect_rebalance');
    await effects.migrate();
    let second: KafkaRunningConsumer | undefined;
    // slow until the newcomer has work of its own, so the rebalance surely lands mid-flight
    const slowly = async (batch: RecordedEvent[]) => {
      await effects.apply(batch);
      if (!second?.stats.handled) await sleep(60);
    };
    const first = await bus.consume({ group, topics: [TOPICS.intake], batchSize: 10, handle: slowly });
    try {
      await until('the first member to be under way', () => first.stats.handled >= 100, 30_000, 20);
      second = await bus.consume({ group, topics: [TOPICS.intake], batchSize: 10, handle: slowly });
      await until(
        'every event applied',
        async () => {
          const applied = await effects.appliedIds();
          return [...all].every((id) => applied.has(id));
        },
        60_000,
        200,
      );
      const s = await effects.summary();
      expect(s.distinct).toBe(all.size);
      expect(s.total).toBe(all.size);
      expect(s.maxApplications).toBe(1);
      expect(first.stats.handled).toBeGreaterThan(0);
      expect(second.stats.handled).toBeGreaterThan(0);
    } finally {
      await second?.stop();
      await first.stop();
      await effects.close();
    }
  });
});
