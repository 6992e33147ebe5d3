import { TOPICS } from '@onestop/events';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { BusLogger } from '../embedded.js';
import { kafkaErrorTypes } from './client.js';

// kafkajs is CommonJS, and Node's ESM loader finds only some of its exports by name (not these)
const { ConfigResourceTypes, ConfigSource } = kafkajs;

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

/** A topic with the topic-level configs it must have, on creation and whenever it is ensured again. */
export interface TopicSpec {
  topic: string;
  /** e.g. `retention.ms`; keys not named here are left as the topic has them */
  configs?: Readonly<Record<string, string>>;
}

/** A topic name alone (broker defaults, or whatever the topic has), or a topic with its configs. */
export type TopicRequest = string | TopicSpec;

const DAY_MS = 24 * 3600_000;

/**
 * Topic configs under which Kafka deletes every record `retentionMs` after it
 * was written, or within about a day more: `cleanup.policy=delete` (a compacted
 * topic would keep the last record of each key for ever), `retention.ms`, and
 * `segment.ms` so that a segment still taking records closes and can expire
 * (retention deletes whole segments: one whose newest record is older than
 * `retention.ms`; a topic gone quiet has its last segment deleted too). One
 * segment a day at most keeps the files of a busy topic few. The broker looks
 * every `log.retention.check.interval.ms` (5 minutes by default) and removes a
 * deleted segment's files `file.delete.delay.ms` (1 minute) later.
 */
export function retentionConfigs(retentionMs: number): Record<string, string> {
  if (!Number.isSafeInteger(retentionMs) || retentionMs < 1) throw new Error(`retention must be a positive number of ms, not ${retentionMs}`);
  return { 'cleanup.policy': 'delete', 'retention.ms': String(retentionMs), 'segment.ms': String(Math.min(retentionMs, DAY_MS)) };
}

export interface EnsureTopicsOptions {
  partitions: number;
  /** -1 takes the broker's `default.replication.factor` */
  replicationFactor: number;
  /** how long to wait for every partition to have a leader (ms) */
  timeoutMs?: number;
  /** told of each existing topic whose configs were corrected */
  logger?: BusLogger;
}

/**
 * Creates the topics that do not exist yet (with their configs) and waits until
 * every partition has a leader (brokers run with auto-creation off); then gives
 * every topic that names configs those values, the existing ones included (see
 * `enforceConfigs`). Idempotent, and safe when several processes start at
 * once. Returns the topics it created.
 */
export async function ensureTopics(kafka: Kafka, requests: readonly TopicRequest[], options: EnsureTopicsOptions): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const wanted = new Map<string, Readonly<Record<string, string>> | undefined>();
  for (const r of requests) {
    const { topic, configs } = typeof r === 'string' ? { topic: r, configs: undefined } : r;
    const before = wanted.get(topic);
    wanted.set(topic, configs ? { ...before, ...configs } : before);
  }
  const topics = [...wanted.keys()];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      try {
        // false (not an error) when another process created them first
        await admin.createTopics({
          waitForLeaders: true,
          timeout: timeoutMs,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: options.partitions,
            replicationFactor: options.replicationFactor,
            configEntries: Object.entries(wanted.get(topic) ?? {}).map(([name, value]) => ({ name, value })),
          })),
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
        const { topics: meta } = await admin.fetchTopicMetadata({ topics });
        if (meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) break;
      } catch (e) {
        if (!kafkaErrorTypes(e).some((t) => NOT_YET.has(t))) throw e;
      }
      if (Date.now() > deadline) throw new Error(`topics without partition leaders after ${timeoutMs} ms: ${topics.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // the ones just created too: another process may have won the race without these configs
    const configured = [...wanted].filter((e): e is [string, Readonly<Record<string, string>>] => e[1] !== undefined && Object.keys(e[1]).length > 0);
    if (configured.length > 0) await enforceConfigs(admin, new Map(configured), options.logger);
    return missing;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Gives each topic the config values asked for where it has others (an operator
 * pre-created it, or an older version of OneStop did). kafkajs has only the
 * AlterConfigs request, which replaces every topic-level override at once
 * (IncrementalAlterConfigs is missing: tulios/kafkajs#1517): so the topic's own
 * overrides are read first and sent again with the corrected values, and only
 * when something differs. Topic configs hold no secrets (nothing is hidden from
 * DescribeConfigs that this could lose).
 */
async function enforceConfigs(admin: Admin, wanted: ReadonlyMap<string, Readonly<Record<string, string>>>, logger: BusLogger | undefined): Promise<void> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [...wanted.keys()].map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  const corrections = [];
  for (const r of resources) {
    const want = wanted.get(r.resourceName);
    if (!want) continue;
    const current = new Map(r.configEntries.map((e) => [e.configName, e.configValue]));
    const changed = Object.entries(want).filter(([k, v]) => current.get(k) !== v);
    if (changed.length === 0) continue;
    const own = Object.fromEntries(r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]));
    const configEntries = Object.entries({ ...own, ...want }).map(([name, value]) => ({ name, value }));
    corrections.push({ type: ConfigResourceTypes.TOPIC, name: r.resourceName, configEntries });
    logger?.info?.({ topic: r.resourceName, was: Object.fromEntries(changed.map(([k]) => [k, current.get(k) ?? null])), now: Object.fromEntries(changed) }, 'topic configs corrected');
  }
  if (corrections.length > 0) await admin.alterConfigs({ validateOnly: false, resources: corrections });
}
