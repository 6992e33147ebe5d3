// 3a. Relay store → Kafka, beside a raw kafkajs producer sending the same messages.
import { KafkaRelay, internalTopicsOutput } from '@onestop/bus';
import { PgDriver, SqlEventStore } from '@onestop/eventstore';
import pg from 'pg';
import { experimentsEnabled } from '../experiments.js';
import { bulkLoad } from '../fixtures.js';
import type { Benchmark } from '../harness.js';
import {
  benchKafka,
  benchTopics,
  produceAll,
  readWholeLog,
  relayLikeProducer,
  relayMessages,
} from '../kafka-util.js';

export const relayBenchmark: Benchmark = {
  id: 'relay',
  title: 'Relay: event store → Kafka',
  needsKafka: true,
  method: [
    "The store holds N realistic events (bulk-loaded as `append()` writes them). Each round publishes all of them to the internal topics (6 partitions each, a prefix of the run's own).",
    '',
    '- **OneStop**: a `KafkaRelay` (the outbox relay of `@onestop/bus`) with a fresh checkpoint, from taking its PostgreSQL advisory lock to `reached(head)`: gap-safe pages of 500 from the log, binary CloudEvents, `sendBatch` with the idempotent producer (`acks: -1`, one request in flight), checkpoint saved after every acknowledged page.',
    '- **raw kafkajs producer**: the same messages (computed beforehand, so no reading and no encoding), sent by a kafkajs producer with the same settings in the same pages of 500 split at 512 KiB, producer connection included as for the relay.',
  ].join('\n'),
  budget: (scale) => ({ plannedMs: 30_000 + scale.relay.events * 1.8, minMs: 20_000 }),
  async prepare(ctx) {
    const total = ctx.scale.relay.events;
    const db = await ctx.database('relay');
    const pool = new pg.Pool({ connectionString: db.url, max: 6 });
    pool.on('error', () => undefined);
    const store = new SqlEventStore(new PgDriver(pool));
    await store.migrate();
    const head = await bulkLoad(pool, total);
    const kafka = benchKafka(ctx.kafka!.brokers);
    const prefix = `bench${ctx.runId}.relay.`;
    await benchTopics(kafka, prefix);
    const events = await readWholeLog((o) => store.readAll(o));
    const messages = relayMessages(events, prefix);
    const bytes = messages.reduce(
      (s, m) =>
        s +
        Buffer.byteLength(String(m.message.value)) +
        Object.values(m.message.headers ?? {}).reduce<number>(
          (a, h) => a + Buffer.byteLength(String(h)),
          0,
        ),
      0,
    );
    ctx.log(`  relay: ${head} events in the store, ${messages.length} messages to send`);

    const runRelay = async (
      checkpoint: string,
      deadline: number,
      options: { batchSize?: number; maxSendBytes?: number },
    ) => {
      const t0 = performance.now();
      const relay = new KafkaRelay({
        kafka,
        store,
        lockConnectionString: db.url,
        checkpoint,
        outputs: [internalTopicsOutput(prefix)],
        ...options,
      });
      try {
        await relay.reached(head, Math.max(10_000, deadline - Date.now() + 30_000));
        const durationMs = performance.now() - t0;
        if (relay.stats.published !== messages.length)
          throw new Error(`relay published ${relay.stats.published} of ${messages.length}`);
        return { events: head, durationMs, extra: { failures: relay.stats.failures } };
      } finally {
        await relay.stop();
      }
    };

    return {
      info: {
        events: head,
        messages: messages.length,
        'average message (value + headers)': `${Math.round(bytes / messages.length)} bytes`,
        topics: `${prefix}* (6 partitions)`,
        database: db.name,
      },
      cases: [
        {
          id: 'relay',
          title: `publishing ${head.toLocaleString('en-US')} events`,
          variants: [
            {
              id: 'onestop',
              name: 'OneStop KafkaRelay',
              role: 'subject',
              description: 'KafkaRelay from a fresh checkpoint to reached(head)',
              run: ({ round, deadline }) => runRelay(`bench-relay-${round}`, deadline, {}),
            },
            ...(experimentsEnabled()
              ? [
                  {
                    id: 'exp-pages',
                    name: 'experiment: KafkaRelay, pages of 2,000 and 1 MiB sends',
                    role: 'reference' as const,
                    description:
                      'the same relay with batchSize 2000 and maxSendBytes 1 MiB (its options)',
                    run: ({ round, deadline }: { round: number; deadline: number }) =>
                      runRelay(`bench-relay-x-${round}`, deadline, {
                        batchSize: 2000,
                        maxSendBytes: 1024 * 1024 - 64 * 1024,
                      }),
                  },
                  {
                    id: 'exp-headers',
                    name: 'experiment: raw producer, 4 headers instead of 16',
                    role: 'reference' as const,
                    description:
                      'the raw baseline with the other attributes packed into one JSON header (sizes the cost of many headers in kafkajs)',
                    run: async () => {
                      const packed = messages.map((m) => {
                        const h = m.message.headers as Record<string, string>;
                        const { ce_specversion, ce_id, ce_type, ...rest } = h;
                        return {
                          topic: m.topic,
                          message: {
                            key: m.message.key,
                            value: m.message.value,
                            headers: {
                              ce_specversion: ce_specversion!,
                              ce_id: ce_id!,
                              ce_type: ce_type!,
                              ce_rest: JSON.stringify(rest),
                            },
                          },
                        };
                      });
                      const t0 = performance.now();
                      const producer = await relayLikeProducer(kafka);
                      try {
                        await produceAll(producer, packed);
                      } finally {
                        await producer.disconnect();
                      }
                      return { events: head, durationMs: performance.now() - t0 };
                    },
                  },
                ]
              : []),
            {
              id: 'raw',
              name: 'raw kafkajs producer',
              role: 'baseline',
              description: 'the same messages, pre-encoded, same producer settings and pages',
              run: async () => {
                const t0 = performance.now();
                const producer = await relayLikeProducer(kafka);
                try {
                  await produceAll(producer, messages);
                } finally {
                  await producer.disconnect();
                }
                return { events: head, durationMs: performance.now() - t0 };
              },
            },
          ],
        },
      ],
      async teardown() {
        const admin = kafka.admin();
        await admin.connect();
        await admin
          .deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(prefix)) })
          .catch(() => undefined);
        await admin.disconnect();
        await store.close();
        await pool.end();
      },
    };
  },
};
