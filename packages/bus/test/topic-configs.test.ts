import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, ConfigSource, Partitioners, type Admin, type Kafka } from 'kafkajs';
import { testKafkaBrokers } from '@onestop/testkit';
import { ensureTopics, retentionConfigs, type BusLogger } from '../src/index.js';
import { deleteTopics, rawKafka, runPrefix, until } from './helpers.js';

// Topic-level configs through ensureTopics, against the real broker: a topic
// created with configs has them; an existing topic with other values is
// corrected without losing its other overrides (kafkajs's AlterConfigs
// replaces them all); and a short retention really deletes what was written,
// down to the segment files on the broker's disk (issue 12: a partner's note on
// its responses topic must not stay there for ever).

let brokers: string[];
let raw: Kafka;
let admin: Admin;
const prefix = runPrefix('topicconfigs');
const logged: Array<{ obj: object; msg?: string }> = [];
const logger: BusLogger = { info: (obj, msg) => logged.push({ obj, msg }), warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  brokers = await testKafkaBrokers();
  raw = rawKafka(brokers);
  admin = raw.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
  if (raw) await deleteTopics(raw, prefix);
});

/** The topic's own overrides (what `kafka-configs --describe` lists for it). */
async function overrides(topic: string): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
  return Object.fromEntries(resources[0]!.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]));
}

/** Broker settings, as numbers. */
async function brokerSettings(names: string[]): Promise<Record<string, string>> {
  const { brokers: nodes } = await admin.describeCluster();
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.BROKER, name: String(nodes[0]!.nodeId), configNames: names }],
  });
  return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
}

/** Every file of the topic's partition directories on this machine (segments, indexes, and segments marked `.deleted`). */
function partitionFiles(logDirs: readonly string[], topic: string): Array<{ path: string; bytes: Buffer }> {
  const partition = new RegExp(`^${topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d+$`);
  const files = [];
  for (const dir of logDirs.filter((d) => existsSync(d))) {
    for (const name of readdirSync(dir).filter((n) => partition.test(n) && statSync(join(dir, n)).isDirectory())) {
      for (const f of readdirSync(join(dir, name))) {
        const path = join(dir, name, f);
        // a file may be deleted between the listing and the read
        try {
          files.push({ path, bytes: readFileSync(path) });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
  }
  return files;
}

describe('ensureTopics with topic configs', () => {
  it('creates a topic with its configs, and leaves a topic named without configs to the broker', async () => {
    const kept = `${prefix}kept`;
    const plain = `${prefix}plain`;
    const created = await ensureTopics(raw, [{ topic: kept, configs: retentionConfigs(3 * 24 * 3600_000) }, plain], { partitions: 1, replicationFactor: -1, logger });
    expect(created.sort()).toEqual([kept, plain].sort());
    expect(await overrides(kept)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(3 * 24 * 3600_000), 'segment.ms': String(24 * 3600_000) });
    expect(await overrides(plain)).toEqual({});
    // asked again: nothing to create, nothing to correct
    expect(await ensureTopics(raw, [{ topic: kept, configs: retentionConfigs(3 * 24 * 3600_000) }, plain], { partitions: 1, replicationFactor: -1, logger })).toEqual([]);
    expect(logged).toEqual([]);
    // a short retention rolls segments as often as it expires them
    expect(retentionConfigs(3600_000)['segment.ms']).toBe('3600000');
    expect(() => retentionConfigs(0)).toThrow(/positive/);
  });

  it('corrects an existing topic whose values differ, keeping its other overrides', async () => {
    const topic = `${prefix}existing`;
    // an operator's topic: compacted, kept for ever, with a message size limit of its own
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'retention.ms', value: '-1' }, { name: 'max.message.bytes', value: '65536' }] }],
    });
    expect(await ensureTopics(raw, [{ topic, configs: retentionConfigs(7 * 24 * 3600_000) }], { partitions: 1, replicationFactor: -1, logger })).toEqual([]);
    expect(await overrides(topic)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(7 * 24 * 3600_000), 'segment.ms': String(24 * 3600_000), 'max.message.bytes': '65536' });
    expect(logged).toEqual([
      { msg: 'topic configs corrected', obj: { topic, was: { 'cleanup.policy': 'compact', 'retention.ms': '-1', 'segment.ms': '604800000' }, now: retentionConfigs(7 * 24 * 3600_000) } },
    ]);
  });

  it('with a short retention, the broker deletes what was written, files included, once the retention has passed', async () => {
    const settings = await brokerSettings(['log.dirs', 'log.dir', 'log.retention.check.interval.ms']);
    const checkMs = Number(settings['log.retention.check.interval.ms']);
    // Kafka's default looks every 5 minutes, and the setting is the broker's own (read-only at runtime): infra/kafka/kafka.sh sets 1 s
    expect(checkMs, 'the test broker checks retention every few seconds (restart it with infra/kafka/kafka.sh)').toBeLessThanOrEqual(10_000);
    const logDirs = (settings['log.dirs'] || settings['log.dir'] || '').split(',').filter(Boolean);
    const topic = `${prefix}short`;
    const retentionMs = 3000;
    // file.delete.delay.ms: the broker removes a deleted segment's files after 1 minute by default; this test need not wait for it
    await ensureTopics(raw, [{ topic, configs: { ...retentionConfigs(retentionMs), 'file.delete.delay.ms': '100' } }], { partitions: 1, replicationFactor: -1 });
    const note = `nota del partner ${prefix}`;
    const producer = raw.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'r-1', value: JSON.stringify({ action: 'decline', note }) }] });
    } finally {
      await producer.disconnect();
    }
    const holding = () => partitionFiles(logDirs, topic).filter((f) => f.bytes.includes(note));
    // the search reads what the files hold: the note is there first
    expect(holding().length, `the note in the segment files under ${logDirs.join(', ')}`).toBeGreaterThan(0);
    const written = Date.now();
    await until('the broker to delete the note from disk', () => holding().length === 0, retentionMs + 2 * checkMs + 30_000, 100);
    const took = Date.now() - written;
    console.log(`retention ${retentionMs} ms (broker check every ${checkMs} ms): the note left the disk after ${took} ms`);
    // the retention, not something else, removed it
    expect(took).toBeGreaterThanOrEqual(retentionMs - 500);
    const [offsets] = await admin.fetchTopicOffsets(topic);
    expect(offsets).toMatchObject({ low: '1', high: '1' });
  }, 90_000);
});
