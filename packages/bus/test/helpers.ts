import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { createEvent, type EventContext, type OneStopEvent, type RecordedEvent } from '@onestop/events';
import { PgDriver, type SqlDriver } from '@onestop/eventstore';
import type { BusLogger } from '../src/index.js';

/** Quiet unless TEST_LOG_LEVEL is set (then WARN and ERROR go to stderr). */
export const testLogger: BusLogger | undefined = process.env.TEST_LOG_LEVEL
  ? {
      info: (o, m) => console.error('INFO', m, JSON.stringify(o).slice(0, 300)),
      warn: (o, m) => console.error('WARN', m, JSON.stringify(o).slice(0, 300)),
      error: (o, m) => console.error('ERROR', m, JSON.stringify(o).slice(0, 300)),
    }
  : undefined;

/** A topic prefix of this test run: topics persist on the broker between runs. */
export const runPrefix = (label: string) => `t.${label}.${randomBytes(4).toString('hex')}.`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true, or fails naming what it was waiting for. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const ctx = (): EventContext => ({
  source: '/onestop/intake',
  actor: { id: 'op-1', role: 'operator' },
  correlationId: `req-${randomUUID()}`,
  time: new Date().toISOString(),
});

/** A valid intake event of a person (stream person-<id>, key personId). */
export function consentGiven(personId: string): OneStopEvent {
  return createEvent('ConsentGiven', { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }, `person-${personId}`, personId, ctx());
}

/** A valid directory event (stream partner-<id>, key partnerId). */
export function capacityChanged(partnerId: string, capacity: number): OneStopEvent {
  return createEvent('ServiceCapacityChanged', { serviceId: 'housing-desk', capacity }, `partner-${partnerId}`, partnerId, { ...ctx(), source: '/onestop/referral' });
}

/** A valid assessment event (stream assessment-<id>, key personId). */
export function assessmentCancelled(assessmentId: string, personId: string): OneStopEvent {
  return createEvent('AssessmentCancelled', { reason: 'person_moved_away' }, `assessment-${assessmentId}`, personId, { ...ctx(), source: '/onestop/assessment' });
}

/** A raw kafkajs client for reading and writing behind the bus's back. */
export function rawKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'bus-test', brokers, logLevel: logLevel.NOTHING });
}

/** Reads a topic from the beginning until `count` messages (or `done`) arrive. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: { count?: number; done?: (messages: Array<KafkaMessage & { partition: number }>) => boolean; timeoutMs?: number } = {},
): Promise<Array<KafkaMessage & { partition: number }>> {
  const messages: Array<KafkaMessage & { partition: number }> = [];
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        messages.push({ ...message, partition });
      },
    });
    const done = options.done ?? ((m) => m.length >= (options.count ?? 0));
    await until(`${options.count ?? 'enough'} messages on ${topic} (have ${messages.length})`, () => done(messages), options.timeoutMs ?? 30_000);
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** Deletes this run's topics so the shared broker does not pile them up. */
export async function deleteTopics(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
  } catch (e) {
    console.warn('could not delete test topics', e);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A read-model effect as projections have them: applied once per event id in
 * one transaction (idempotent), while every delivery is counted separately so
 * a test can see redeliveries happen without doubling the effect.
 */
export class EffectTable {
  readonly pool: pg.Pool;
  readonly db: SqlDriver;

  constructor(
    url: string,
    private readonly name = 'effect',
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 4 });
    this.pool.on('error', () => undefined);
    this.db = new PgDriver(this.pool);
  }

  async migrate(): Promise<void> {
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS ${this.name} (event_id uuid PRIMARY KEY, applications int NOT NULL, global_position bigint);
      CREATE TABLE IF NOT EXISTS ${this.name}_total (id int PRIMARY KEY, applied bigint NOT NULL);
      INSERT INTO ${this.name}_total VALUES (1, 0) ON CONFLICT DO NOTHING;
      CREATE TABLE IF NOT EXISTS ${this.name}_delivery (event_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());`);
  }

  /** Applies events idempotently: the total grows only for event ids not seen before. */
  async apply(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const ids = events.map((e) => e.id);
      await c.query(`INSERT INTO ${this.name}_delivery (event_id) SELECT unnest($1::uuid[])`, [ids]);
      const { rowCount } = await c.query(
        `INSERT INTO ${this.name} (event_id, applications, global_position)
         SELECT id, 1, pos FROM unnest($1::uuid[], $2::bigint[]) AS t(id, pos)
         ON CONFLICT (event_id) DO NOTHING`,
        [ids, events.map((e) => e.globalPosition)],
      );
      await c.query(`UPDATE ${this.name}_total SET applied = applied + $1 WHERE id = 1`, [rowCount ?? 0]);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async summary(): Promise<{ distinct: number; total: number; deliveries: number; maxApplications: number }> {
    const { rows } = await this.pool.query(`SELECT
      (SELECT count(*)::int FROM ${this.name}) AS distinct,
      (SELECT applied::int FROM ${this.name}_total WHERE id = 1) AS total,
      (SELECT count(*)::int FROM ${this.name}_delivery) AS deliveries,
      (SELECT coalesce(max(applications), 0)::int FROM ${this.name}) AS "maxApplications"`);
    return rows[0];
  }

  async appliedIds(): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ event_id: string }>(`SELECT event_id FROM ${this.name}`);
    return new Set(rows.map((r) => r.event_id));
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
