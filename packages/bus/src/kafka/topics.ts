import { TOPICS } from '@onestop/events';
import type { Kafka } from 'kafkajs';
import { kafkaErrorTypes } from './client.js';

// What the metadata says of a topic just created, until every broker knows it.
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Where re-driven dead letters go back to their group: every consumer group of
 * the Kafka bus also consumes it, and handles only the messages whose
 * `dlq_group` header names it. Only the platform may write to it (ACLs): its
 * `dlq_topic` header says which topic a message counts as coming from.
 */
export const REDRIVE_TOPIC = 'onestop.dlq.redrive.v1';

/**
 * The internal topics of DESIGN §5 (domain events, read audit, DLQ) and the
 * re-drive topic. A prefix exists only so that test runs get topics of their
 * own on a shared broker.
 */
export function internalTopics(topicPrefix = ''): string[] {
  return [...Object.values(TOPICS), REDRIVE_TOPIC].map((t) => `${topicPrefix}${t}`);
}

export interface EnsureTopicsOptions {
  partitions: number;
  /** -1 takes the broker's `default.replication.factor` */
  replicationFactor: number;
  /** how long to wait for every partition to have a leader (ms) */
  timeoutMs?: number;
}

/**
 * Creates the topics that do not exist yet and waits until every partition has
 * a leader (brokers run with auto-creation off). Idempotent, and safe when
 * several processes start at once. Returns the topics it created.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly string[], options: EnsureTopicsOptions): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      try {
        // false (not an error) when another process created them first
        await admin.createTopics({
          waitForLeaders: true,
          timeout: timeoutMs,
          topics: missing.map((topic) => ({ topic, numPartitions: options.partitions, replicationFactor: options.replicationFactor })),
        });
      } catch (e) {
        // kafkajs's leader wait gives up on a topic the broker's metadata does not show
        // yet (KRaft propagates it a moment later); the loop below waits for it
        if (!kafkaErrorTypes(e).some((t) => NOT_YET.has(t))) throw e;
      }
    }
    // createTopics skips the leader wait when it lost the creation race: wait here too
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] });
        if (meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) break;
      } catch (e) {
        if (!kafkaErrorTypes(e).some((t) => NOT_YET.has(t))) throw e;
      }
      if (Date.now() > deadline) throw new Error(`topics without partition leaders after ${timeoutMs} ms: ${topics.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return missing;
  } finally {
    await admin.disconnect();
  }
}
