// 3b. Projections: Kafka → read models with checkpoints, beside a raw consumer.
import { KafkaBus } from '@onestop/bus';
import type { RecordedEvent } from '@onestop/events';
import { PgDriver } from '@onestop/eventstore';
import { PROJECTED_TOPICS, PROJECTIONS_CONCURRENCY, ReadModels } from '@onestop/projections';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { recordedLog } from '../fixtures.js';
import type { Benchmark, RoundResult } from '../harness.js';
import {
  benchKafka,
  benchTopics,
  produceAll,
  relayLikeProducer,
  relayMessages,
} from '../kafka-util.js';

const CHUNK = 500;

/**
 * A plain kafkajs consumer of the same topics and group settings, committing
 * after every chunk of 500 like the bus; `write` does something with each chunk.
 */
async function rawConsume(
  kafka: Kafka,
  group: string,
  topics: string[],
  total: number,
  deadline: number,
  write?: (
    rows: Array<{ subject: string; position: number; type: string; data: unknown }>,
  ) => Promise<void>,
): Promise<RoundResult> {
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    maxWaitTimeInMs: 1000,
    allowAutoTopicCreation: false,
  });
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const h = (headers: Record<string, unknown> | undefined, name: string) =>
    String(headers?.[name] ?? '');
  const joinStarted = performance.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PROJECTIONS_CONCURRENCY,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        for (let i = 0; i < batch.messages.length; i += CHUNK) {
          const chunk = batch.messages.slice(i, i + CHUNK);
          const rows = chunk.map((m) => ({
            subject: h(m.headers, 'ce_subject'),
            position: Number(h(m.headers, 'ce_streamposition')),
            type: h(m.headers, 'ce_type'),
            data: JSON.parse(m.value?.toString('utf8') ?? 'null') as unknown,
          }));
          if (write) await write(rows);
          const last = chunk[chunk.length - 1]!.offset;
          resolveOffset(last);
          await commitOffsetsIfNecessary({
            topics: [
              {
                topic: batch.topic,
                partitions: [
                  { partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
                ],
              },
            ],
          });
          handled += chunk.length;
          if (handled >= total) done();
        }
      },
    });
    const joinMs = performance.now() - joinStarted;
    const t0 = performance.now();
    await Promise.race([
      finished,
      new Promise((_, reject) =>
        setTimeout(
          () =>
            reject(new Error(`raw consumer handled ${handled} of ${total} before the deadline`)),
          Math.max(15_000, deadline - Date.now() + 30_000),
        ).unref(),
      ),
    ]);
    return { events: handled, durationMs: performance.now() - t0, extra: { joinMs } };
  } finally {
    await consumer.disconnect();
  }
}

export const projectionsBenchmark: Benchmark = {
  id: 'projections',
  title: 'Projections: Kafka → read models',
  needsKafka: true,
  method: [
    "The internal topics (6 partitions, a prefix of the run's own) hold N realistic events as the relay publishes them (binary CloudEvents). Each round a fresh consumer group reads all of them from the beginning; the time runs from the moment the group is joined (partitions assigned) to the last event handled; the join time is shown apart.",
    '',
    "- **OneStop**: the projections service's consumer as `Projections.startConsumer()` wires it: `KafkaBus.consume()` on `PROJECTED_TOPICS`, `PROJECTIONS_CONCURRENCY` partitions at once (decode, validate against the catalog and upcast, dead-letter the invalid, chunks of 500) handing each chunk to `ReadModels.apply()` — one transaction with the shared swap lock, the per-stream checkpoints and the read-model upserts — then committing the offsets. A fresh read-model schema every round.",
    '- **raw consumer**: a kafkajs consumer of the same topics and settings (the same partitions at once) that parses each value, commits after each chunk of 500, and does nothing else: the floor of consuming.',
    '- **raw consumer + INSERT**: the same, writing each chunk as plain rows (stream, position, type, data) with one `INSERT … ON CONFLICT DO NOTHING` through `pg`: the floor of consuming into a table.',
  ].join('\n'),
  budget: (scale) => ({ plannedMs: 40_000 + scale.projections.events * 1.5, minMs: 25_000 }),
  async prepare(ctx) {
    const total = ctx.scale.projections.events;
    const db = await ctx.database('projections');
    const pool = new pg.Pool({ connectionString: db.url, max: 10 });
    pool.on('error', () => undefined);
    const driver = new PgDriver(pool);
    await pool.query(`CREATE SCHEMA bench_raw;
      CREATE TABLE bench_raw.consumed (stream_id text NOT NULL, position bigint NOT NULL, type text NOT NULL, data jsonb NOT NULL, PRIMARY KEY (stream_id, position))`);
    const kafka = benchKafka(ctx.kafka!.brokers);
    const prefix = `bench${ctx.runId}.proj.`;
    const topics = await benchTopics(kafka, prefix);
    const projected = PROJECTED_TOPICS.map((t) => `${prefix}${t}`);
    const t0 = Date.now();
    const producer = await relayLikeProducer(kafka);
    let produced = 0;
    try {
      for (const chunk of recordedLog(total)) {
        const messages = relayMessages(chunk, prefix);
        await produceAll(producer, messages);
        produced += messages.length;
      }
    } finally {
      await producer.disconnect();
    }
    ctx.log(
      `  projections: ${produced} messages on ${topics.length} topics in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const bus = new KafkaBus({ kafka, db: driver, topicPrefix: prefix });
    await bus.migrate();
    const info: Record<string, string | number> = {
      events: produced,
      topics: `${prefix}* (6 partitions)`,
      database: db.name,
    };

    return {
      info,
      cases: [
        {
          id: 'projections',
          title: `projecting ${produced.toLocaleString('en-US')} events`,
          extraColumns: { joinMs: 'group join' },
          variants: [
            {
              id: 'onestop',
              name: 'OneStop projections',
              role: 'subject',
              description:
                'KafkaBus.consume → ReadModels.apply (read models + per-stream checkpoints in one transaction)',
              run: async ({ round, deadline }) => {
                const readModels = new ReadModels(driver, `bench_rm_${round}`);
                await readModels.migrate();
                let handled = 0;
                const joinStarted = performance.now();
                const consumer = await bus.consume({
                  group: `bench-${ctx.runId}-projections-${round}`,
                  topics: PROJECTED_TOPICS,
                  concurrency: PROJECTIONS_CONCURRENCY,
                  handle: async (batch: RecordedEvent[]) => {
                    await readModels.apply(batch);
                    handled += batch.length;
                  },
                });
                const joinMs = performance.now() - joinStarted;
                const t = performance.now();
                const giveUp = Date.now() + Math.max(15_000, deadline - Date.now() + 30_000);
                try {
                  // every event handled, or dead-lettered as invalid (none are, in this fixture)
                  while (handled + consumer.stats.deadLettered < produced) {
                    if (Date.now() > giveUp)
                      throw new Error(
                        `handled ${handled} and dead-lettered ${consumer.stats.deadLettered} of ${produced} before the deadline`,
                      );
                    await new Promise((r) => setTimeout(r, 5));
                  }
                  const durationMs = performance.now() - t;
                  const overview = await readModels.overview();
                  info['read models after a round'] =
                    `${overview.persons.registered} persons, ${overview.assessments.completed} completed assessments, ${overview.referrals.total} referrals, ${overview.partners.total} partners`;
                  return {
                    events: handled,
                    durationMs,
                    extra: { joinMs, deadLettered: consumer.stats.deadLettered },
                  };
                } finally {
                  await consumer.stop();
                }
              },
            },
            {
              id: 'raw',
              name: 'raw consumer',
              role: 'baseline',
              description: 'kafkajs eachBatch: parse, commit per 500',
              run: ({ round, deadline }) =>
                rawConsume(kafka, `bench-${ctx.runId}-raw-${round}`, projected, produced, deadline),
            },
            {
              id: 'raw-insert',
              name: 'raw consumer + INSERT',
              role: 'baseline',
              description: 'kafkajs eachBatch: parse, one INSERT of the chunk, commit per 500',
              run: async ({ round, deadline }) => {
                await pool.query('TRUNCATE bench_raw.consumed');
                return rawConsume(
                  kafka,
                  `bench-${ctx.runId}-rawsql-${round}`,
                  projected,
                  produced,
                  deadline,
                  async (rows) => {
                    await pool.query(
                      `INSERT INTO bench_raw.consumed (stream_id, position, type, data)
                     SELECT s, p, t, d FROM jsonb_to_recordset($1::jsonb) AS x(s text, p bigint, t text, d jsonb)
                     ON CONFLICT DO NOTHING`,
                      [
                        JSON.stringify(
                          rows.map((r) => ({ s: r.subject, p: r.position, t: r.type, d: r.data })),
                        ),
                      ],
                    );
                  },
                );
              },
            },
          ],
        },
      ],
      async teardown() {
        await bus.close();
        const admin = kafka.admin();
        await admin.connect();
        await admin
          .deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(prefix)) })
          .catch(() => undefined);
        await admin.disconnect();
        await pool.end();
      },
    };
  },
};
