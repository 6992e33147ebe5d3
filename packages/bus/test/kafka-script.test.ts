import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { REPO_ROOT, eventually, testKafkaBrokers } from '@onestop/testkit';
import { rawKafka, runPrefix } from './helpers.js';

// infra/kafka/kafka.sh beyond start and stop: the operator tools it runs
// beside the broker jars, and the storage format with a cluster id that
// starts with "-" (about 1 fresh start in 64 made one; StorageTool took it
// for an option).

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'infra', 'kafka', 'kafka.sh');

/** Runs kafka.sh; a first call may fetch the jars with Maven, hence the long bound. */
async function kafkaSh(args: string[], env: Record<string, string> = {}) {
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 180_000, maxBuffer: 10 * 1024 * 1024 });
}

describe('kafka.sh tool: the operator tools against the test broker', () => {
  let brokers: string[];
  let raw: Kafka;
  const prefix = runPrefix('tools');
  const topic = `${prefix}orders`;
  const group = `${prefix}group`;

  beforeAll(async () => {
    brokers = await testKafkaBrokers();
    raw = rawKafka(brokers);
    const admin = raw.admin();
    await admin.connect();
    const producer = raw.producer();
    await producer.connect();
    try {
      // a fresh (or busy) broker may not serve the new partitions or the offsets topic yet: retried
      await eventually(() => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] }), 60_000, 500);
      await eventually(() => producer.send({ topic, messages: ['a', 'b', 'c'].map((value) => ({ value, partition: 0 })) }), 60_000, 500);
      // a group with committed offsets: 1 of 3 messages of partition 0 read
      await eventually(() => admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '1' }] }), 60_000, 500);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 240_000);

  afterAll(async () => {
    const admin = raw?.admin();
    if (!admin) return;
    await admin.connect();
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  const bootstrap = () => ['--bootstrap-server', brokers.join(',')];

  it('consumer-groups --list names the group, --describe shows its lag', async () => {
    const list = await kafkaSh(['tool', 'consumer-groups', '--list', ...bootstrap()]);
    expect(list.stdout.split('\n')).toContain(group);

    const described = await kafkaSh(['tool', 'consumer-groups', '--describe', '--group', group, ...bootstrap()]);
    const row = described.stdout.split('\n').find((l) => l.startsWith(group) && l.includes(topic));
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG …
    expect(row?.split(/\s+/).slice(0, 6)).toEqual([group, topic, '0', '1', '3', '2']);
  }, 240_000);

  it('topics --describe names the topic and its partitions', async () => {
    const { stdout } = await kafkaSh(['tool', 'topics', '--describe', '--topic', topic, ...bootstrap()]);
    expect(stdout).toContain(`Topic: ${topic}`);
    expect(stdout).toMatch(/PartitionCount: 2/);
  }, 240_000);

  it('an unknown tool is a usage error that lists the tools', async () => {
    const err = await kafkaSh(['tool', 'no-such-tool']).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('consumer-groups|topics|console-consumer|get-offsets');
  });
});

describe('kafka.sh format: a cluster id that starts with "-"', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'onestop-kafka-format-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  // ports are only written to server.properties: format opens no socket
  const env = { KAFKA_DATA_DIR: dataDir, KAFKA_PORT: '19692' };

  it('formats the storage with it', async () => {
    const id = '-abcdefghijklmnopqrstu';
    await kafkaSh(['format'], { ...env, KAFKA_CLUSTER_ID: id });
    expect(readFileSync(join(dataDir, 'logs', 'meta.properties'), 'utf8')).toMatch(/^cluster\.id=-abcdefghijklmnopqrstu$/m);
  }, 240_000);

  it('refuses a KAFKA_CLUSTER_ID that is not 16 bytes of URL-safe base64', async () => {
    const other = mkdtempSync(join(tmpdir(), 'onestop-kafka-format-'));
    try {
      const err = await kafkaSh(['format'], { KAFKA_DATA_DIR: other, KAFKA_PORT: '19692', KAFKA_CLUSTER_ID: '-not-an-id' }).then(
        () => undefined,
        (e: { code?: number; stderr?: string }) => e,
      );
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain('KAFKA_CLUSTER_ID must be 22 characters');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 240_000);
});
