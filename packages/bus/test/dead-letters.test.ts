import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { ConcurrencyRetriesExhausted, RuleViolation, TOPICS, type OneStopEvent, type RecordedEvent } from '@onestop/events';
import { PgDriver, createPostgresEventStore, type SqlEventStore } from '@onestop/eventstore';
import { createTestDatabase, testKafkaBrokers, type TestDatabase } from '@onestop/testkit';
import { EmbeddedBus, KafkaBus, type EventBus } from '../src/index.js';
import { EffectTable, consentGiven, deleteTopics, rawKafka, runPrefix, testLogger, until } from './helpers.js';

// Transient and permanent failures, the order of a key's later messages, and
// re-drive, on the real broker and PostgreSQL (and re-drive on the embedded bus).

let brokers: string[];
let tdb: TestDatabase;
let store: SqlEventStore;
let pool: pg.Pool;
let raw: Kafka;
let bus: KafkaBus;
const prefix = runPrefix('dlq');

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  tdb = await createTestDatabase('busdlq');
  store = await createPostgresEventStore({ connectionString: tdb.url, maxConnections: 6 });
  pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
  raw = rawKafka(brokers);
  bus = new KafkaBus({
    brokers,
    clientId: 'bus-dlq-test',
    topicPrefix: prefix,
    partitions: 3,
    db: new PgDriver(pool),
    logger: testLogger,
    // a member that stops heartbeating is evicted after 6 s: the retries below last longer
    consumer: { sessionTimeout: 6000, heartbeatInterval: 1000 },
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

/** Appends events (one person each, unless given) and waits until the relay has published them. */
async function publish(events: OneStopEvent[]): Promise<void> {
  let head = 0;
  for (const e of events) {
    const r = await store.append(e.subject, [e], 'any');
    head = Math.max(head, ...r.globalPositions);
  }
  await bus.relay!.reached(head, 30_000);
}

const connectionRefused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

/** Handle calls per event id, and the order in which events were applied. */
function recorder() {
  const attempts = new Map<string, number>();
  const applied: string[] = [];
  return {
    attempts,
    applied,
    attempt(e: RecordedEvent) {
      attempts.set(e.id, (attempts.get(e.id) ?? 0) + 1);
      return attempts.get(e.id)!;
    },
  };
}

describe('transient and permanent failures', () => {
  it('retries a transient failure that clears after a few seconds, keeping its group membership, and applies it: no dead letter', async () => {
    const person = randomUUID();
    const events = [consentGiven(person), consentGiven(person)];
    const r = recorder();
    let clearsAt = Number.POSITIVE_INFINITY;
    const group = `transient-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      transientRetryMs: 60_000,
      handle: async (batch) => {
        for (const e of batch.filter((x) => events.some((m) => m.id === x.id))) {
          const n = r.attempt(e);
          // the database is "down" for 8 s from the first attempt: longer than the 6 s session timeout
          if (n === 1 && e.id === events[0]!.id) clearsAt = Date.now() + 8000;
          if (e.id === events[0]!.id && Date.now() < clearsAt) throw connectionRefused();
          r.applied.push(e.id);
        }
      },
    });
    try {
      await consumer.joined(20_000);
      await publish(events);
      await until('both events applied', () => r.applied.length === 2, 40_000);
      expect(r.applied).toEqual(events.map((e) => e.id));
      expect(r.attempts.get(events[0]!.id)).toBeGreaterThan(4);
      // the second event waited for the first: it was handled once, after it
      expect(r.attempts.get(events[1]!.id)).toBe(1);
      expect(await bus.deadLetters(group)).toEqual([]);
      // heartbeats went on during the retries: never evicted, never rejoined
      expect(consumer.stats.joins).toBe(1);
      expect(consumer.stats.restarts).toBe(0);
    } finally {
      await consumer.stop();
    }
  });

  it('treats the 409 "concurrency retries exhausted" of handleCommand as transient', async () => {
    const event = consentGiven(randomUUID());
    const r = recorder();
    const group = `conflict-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      transientRetryMs: 60_000,
      handle: async (batch) => {
        for (const e of batch.filter((x) => x.id === event.id)) {
          if (r.attempt(e) <= 3) throw new ConcurrencyRetriesExhausted(`places-${randomUUID()}`, 6);
          r.applied.push(e.id);
        }
      },
    });
    try {
      await publish([event]);
      await until('the event applied', () => r.applied.length === 1, 30_000);
      expect(r.attempts.get(event.id)).toBe(4);
      expect(await bus.deadLetters(group)).toEqual([]);
    } finally {
      await consumer.stop();
    }
  });

  it('dead-letters a transient failure that outlasts the retry window, with its reason', async () => {
    const event = consentGiven(randomUUID());
    const r = recorder();
    const group = `outlasts-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      transientRetryMs: 2000,
      handle: async (batch) => {
        for (const e of batch.filter((x) => x.id === event.id)) {
          r.attempt(e);
          throw connectionRefused();
        }
      },
    });
    try {
      await publish([event]);
      await until('the dead letter', async () => (await bus.deadLetters(group)).length === 1, 30_000);
      const [letter] = await bus.deadLetters(group);
      expect(letter!.reason).toMatch(/^handler_failed: connect ECONNREFUSED 127\.0\.0\.1:5432 \[transient: still failing after \d+ attempts in \d+ s\]$/);
      expect(letter).toMatchObject({ key: event.partitionKey, status: 'open', redriveOf: null });
      // 100, 200, 400, 800 ms … within 2 s: several attempts, not one
      expect(r.attempts.get(event.id)).toBeGreaterThanOrEqual(4);
    } finally {
      await consumer.stop();
    }
  });

  it('dead-letters a permanent failure at once, and handles the later messages of its key normally', async () => {
    const person = randomUUID();
    const events = [consentGiven(person), consentGiven(person), consentGiven(person)];
    const poison = events[1]!.id;
    const r = recorder();
    const singles = new Map<string, number>();
    const group = `permanent-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      // the default window (10 minutes): a permanent failure does not wait for it
      handle: async (batch) => {
        const mine = batch.filter((x) => events.some((m) => m.id === x.id));
        if (batch.length === 1 && mine[0]) singles.set(mine[0].id, (singles.get(mine[0].id) ?? 0) + 1);
        if (mine.some((e) => e.id === poison)) throw new RuleViolation('transition_refused', 'a completed referral cannot be accepted');
        for (const e of mine) r.applied.push(e.id);
      },
    });
    try {
      const started = Date.now();
      await publish(events);
      await until('the other two applied', () => r.applied.includes(events[2]!.id), 30_000);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect([...new Set(r.applied)]).toEqual([events[0]!.id, events[2]!.id]);
      expect(singles.get(poison)).toBe(1);
      const letters = await bus.deadLetters(group);
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ reason: 'handler_failed: transition_refused: a completed referral cannot be accepted', key: person });
      expect(letters[0]!.payload).toMatchObject({ id: poison });
    } finally {
      await consumer.stop();
    }
  });

  it('keeps the later messages of a partition waiting while one is retried, in order once it clears', async () => {
    const person = randomUUID();
    const events = [consentGiven(person), consentGiven(person), consentGiven(person)];
    const r = recorder();
    let down = true;
    const group = `order-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        for (const e of batch.filter((x) => events.some((m) => m.id === x.id))) {
          if (e.id === events[1]!.id) {
            r.attempt(e);
            if (down) throw connectionRefused();
          }
          if (!r.applied.includes(e.id)) r.applied.push(e.id);
        }
      },
    });
    try {
      await publish(events);
      await until('the second event retried a few times', () => (r.attempts.get(events[1]!.id) ?? 0) >= 5, 30_000);
      expect(r.applied).toEqual([events[0]!.id]);
      down = false;
      await until('all three applied', () => r.applied.length === 3, 30_000);
      expect(r.applied).toEqual(events.map((e) => e.id));
      expect(await bus.deadLetters(group)).toEqual([]);
    } finally {
      await consumer.stop();
    }
  });

  it('stops promptly while it waits between retries', async () => {
    const event = consentGiven(randomUUID());
    const r = recorder();
    const consumer = await bus.consume({
      group: `stop-${randomUUID()}`,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        for (const e of batch.filter((x) => x.id === event.id)) {
          // retries of the message alone (the group starts with a batch of the topic's earlier events)
          if (batch.length === 1) r.attempt(e);
          throw connectionRefused();
        }
      },
    });
    await publish([event]);
    // after the 7th attempt the backoff is 6.4 s
    await until('several retries', () => (r.attempts.get(event.id) ?? 0) >= 7, 30_000);
    const started = Date.now();
    await consumer.stop();
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

/** Waits until the dead letter has this status. */
const statusOf = async (b: EventBus, id: string) => (await b.deadLetter(id))?.status;

describe('re-drive (Kafka): back to the group it failed in, applied once, recorded', () => {
  it('re-drives a fixed dead letter to its group only; twice still applies it once; every re-drive is recorded', async () => {
    const effects = new EffectTable(tdb.url, 'effect_redrive');
    await effects.migrate();
    const event = consentGiven(randomUUID());
    let broken = true;
    const group = `redrive-${randomUUID()}`;
    const otherGroup = `bystander-${randomUUID()}`;
    const seenByOther: string[] = [];
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        const mine = batch.filter((e) => e.id === event.id);
        if (mine.length && broken) throw new RuleViolation('not_yet', 'the projection cannot take it yet');
        await effects.apply(mine);
      },
    });
    const bystander = await bus.consume({
      group: otherGroup,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        for (const e of batch) if (e.id === event.id) seenByOther.push(e.id);
      },
    });
    try {
      await publish([event]);
      await until('the dead letter', async () => (await bus.deadLetters(group)).length === 1, 30_000);
      await until('the bystander saw the event', () => seenByOther.length === 1, 30_000);
      const [letter] = await bus.deadLetters(group);
      expect(letter!.status).toBe('open');

      broken = false;
      const first = await bus.redrive(letter!.id, { actor: 'admin:test', reason: 'projection fixed' });
      expect(first).toMatchObject({ by: 'admin:test', reason: 'projection fixed' });
      await until('resolved', async () => (await statusOf(bus, letter!.id)) === 'resolved', 30_000);
      expect(await effects.summary()).toMatchObject({ distinct: 1, total: 1, deliveries: 1 });

      await bus.redrive(letter!.id, { actor: 'admin:other', reason: 'again, to be sure' });
      await until('the second re-drive delivered', async () => (await effects.summary()).deliveries === 2, 30_000);
      await until('resolved again', async () => (await statusOf(bus, letter!.id)) === 'resolved', 30_000);
      expect(await effects.summary()).toMatchObject({ distinct: 1, total: 1, maxApplications: 1 });

      const shown = await bus.deadLetter(letter!.id);
      expect(shown!.redrives.map((r) => [r.by, r.reason])).toEqual([
        ['admin:test', 'projection fixed'],
        ['admin:other', 'again, to be sure'],
      ]);
      expect(shown!.lastRedrive).toMatchObject({ by: 'admin:other', reason: 'again, to be sure' });
      // the other group never got the re-driven copies
      expect(seenByOther).toEqual([event.id]);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM bus.dead_letter_redrives WHERE dead_letter_id = $1', [letter!.id]);
      expect(rows[0].n).toBe(2);
    } finally {
      await consumer.stop();
      await bystander.stop();
      await effects.close();
    }
  });

  it('a re-driven message that fails again becomes a new dead letter naming the first', async () => {
    const event = consentGiven(randomUUID());
    const group = `again-${randomUUID()}`;
    const consumer = await bus.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        if (batch.some((e) => e.id === event.id)) throw new RuleViolation('still_broken', 'not fixed');
      },
    });
    try {
      await publish([event]);
      await until('the dead letter', async () => (await bus.deadLetters(group)).length === 1, 30_000);
      const [first] = await bus.deadLetters(group);
      await bus.redrive(first!.id, { actor: 'admin:test', reason: 'try' });
      await until('a second dead letter', async () => (await bus.deadLetters(group)).length === 2, 30_000);
      const [second] = await bus.deadLetters(group);
      expect(second).toMatchObject({ redriveOf: first!.id, status: 'open', key: event.partitionKey, reason: 'handler_failed: still_broken: not fixed' });
      expect(second!.headers.dlq_redrive_of).toBe(first!.id);
      expect(await statusOf(bus, first!.id)).toBe('redrive_failed');
      // the second one is re-drivable too, and still counts as coming from the intake topic
      await bus.redrive(second!.id, { actor: 'admin:test', reason: 'try again' });
      await until('a third dead letter', async () => (await bus.deadLetters(group)).length === 3, 30_000);
      const [third] = await bus.deadLetters(group);
      expect(third).toMatchObject({ redriveOf: second!.id });
      expect(third!.headers.dlq_topic).toBe(bus.topic(TOPICS.intake));
    } finally {
      await consumer.stop();
    }
  });

  it('a non-catalog consumer gets the re-driven message as from its original topic (a partner answer keeps its partner)', async () => {
    const topic = `answers.${randomUUID().slice(0, 8)}`;
    await bus.createTopics([topic]);
    const group = `answers-${randomUUID()}`;
    let broken = true;
    const handled: Array<{ topic: string; value: string; redriveOf: string | undefined }> = [];
    const consumer = await bus.consumeMessages<{ topic: string; value: string; redriveOf: string | undefined }>({
      group,
      topics: [topic],
      parse: (m) => ({ ok: true, value: { topic: m.topic, value: m.value!.toString(), redriveOf: m.headers.dlq_redrive_of } }),
      handle: async (batch) => {
        if (broken) throw new RuleViolation('refused', 'not now');
        handled.push(...batch);
      },
    });
    try {
      await bus.publish([{ topic, message: { key: 'referral-1', value: '{"answer":"accept"}', headers: { 'x-partner': 'caritas', dlq_topic: 'forged' } } }]);
      await until('the dead letter', async () => (await bus.deadLetters(group)).length === 1, 30_000);
      const [letter] = await bus.deadLetters(group);
      broken = false;
      await bus.redrive(letter!.id, { actor: 'admin:test', reason: 'fixed' });
      await until('handled', () => handled.length === 1, 30_000);
      // the original topic, not a forged dlq_ header of the message
      expect(handled[0]).toEqual({ topic, value: '{"answer":"accept"}', redriveOf: letter!.id });
    } finally {
      await consumer.stop();
    }
  });

  it('refuses to re-drive an unknown dead letter', async () => {
    await expect(bus.redrive('999999999', { actor: 'admin:test', reason: 'x' })).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});

describe('re-drive (embedded bus)', () => {
  it('hands a dead letter back to its group within a second; twice still applies it once', async () => {
    const embedded = new EmbeddedBus(store, new PgDriver(pool), testLogger, { redrivePollMs: 100, transientRetryMs: 1000 });
    await embedded.migrate();
    const effects = new EffectTable(tdb.url, 'effect_embedded_redrive');
    await effects.migrate();
    const event = consentGiven(randomUUID());
    let broken = true;
    const group = `embedded-${randomUUID()}`;
    await publish([event]);
    const consumer = await embedded.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        const mine = batch.filter((e) => e.id === event.id);
        if (mine.length && broken) throw new RuleViolation('not_yet', 'not yet');
        await effects.apply(mine);
      },
    });
    try {
      await until('the dead letter', async () => (await embedded.deadLetters(group)).length === 1, 30_000);
      const [letter] = await embedded.deadLetters(group);
      broken = false;
      await embedded.redrive(letter!.id, { actor: 'cli:test', reason: 'fixed' });
      await until('resolved', async () => (await statusOf(embedded, letter!.id)) === 'resolved', 30_000);
      await embedded.redrive(letter!.id, { actor: 'cli:test', reason: 'twice' });
      await until('resolved again', async () => (await statusOf(embedded, letter!.id)) === 'resolved', 30_000);
      expect(await effects.summary()).toMatchObject({ distinct: 1, total: 1, deliveries: 2 });
      expect((await embedded.deadLetter(letter!.id))!.redrives).toHaveLength(2);
    } finally {
      await consumer.stop();
      await embedded.close();
      await effects.close();
    }
  });
});
