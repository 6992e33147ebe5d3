// Kafka helpers of the benchmarks: the bus's client, topics of the run's own,
// and the messages the relay sends for the events of a log.
import {
  createKafkaClient,
  ensureTopics,
  internalTopics,
  internalTopicsOutput,
  type Outgoing,
} from '@onestop/bus';
import type { RawRecordedEvent } from '@onestop/events';
import { Partitioners, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';

export function benchKafka(brokers: readonly string[], clientId = 'onestop-bench'): Kafka {
  // no logger: kafkajs's warnings (rebalances, a coordinator loading) would only clutter the bench output
  return createKafkaClient({ brokers, clientId });
}

/** Creates the internal topics under a prefix of the run's own (6 partitions, as the bus creates them). */
export async function benchTopics(kafka: Kafka, prefix: string): Promise<string[]> {
  const topics = internalTopics(prefix);
  await ensureTopics(kafka, topics, { partitions: 6, replicationFactor: -1 });
  return topics;
}

/** What the relay publishes for these events: binary CloudEvents on the prefixed internal topics. */
export function relayMessages(events: readonly RawRecordedEvent[], prefix: string): Outgoing[] {
  const out = internalTopicsOutput(prefix);
  return events.flatMap((e) => out.route(e));
}

function messageBytes(m: Message): number {
  const len = (v: unknown) =>
    v == null
      ? 0
      : typeof v === 'string'
        ? Buffer.byteLength(v)
        : Buffer.isBuffer(v)
          ? v.length
          : 0;
  let n = 70 + len(m.key) + len(m.value);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += Buffer.byteLength(k) + len(v);
  return n;
}

/** Groups messages into sendBatch calls of at most ~maxBytes, in order (as the relay does). */
export function chunkByBytes(
  outgoing: readonly Outgoing[],
  maxBytes = 512 * 1024,
): TopicMessages[][] {
  const chunks: TopicMessages[][] = [];
  let current = new Map<string, Message[]>();
  let bytes = 0;
  const flush = () => {
    if (current.size) chunks.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    bytes = 0;
  };
  for (const o of outgoing) {
    const size = messageBytes(o.message);
    if (bytes > 0 && bytes + size > maxBytes) flush();
    const list = current.get(o.topic) ?? [];
    list.push(o.message);
    current.set(o.topic, list);
    bytes += size;
  }
  flush();
  return chunks;
}

/** A producer configured as the relay's: idempotent, one request in flight, acks from all in-sync replicas. */
export async function relayLikeProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

/** Sends messages in pages of `page` (each split at ~512 KiB), one sendBatch after the other. */
export async function produceAll(
  producer: Producer,
  outgoing: readonly Outgoing[],
  page = 500,
): Promise<void> {
  for (let i = 0; i < outgoing.length; i += page) {
    for (const topicMessages of chunkByBytes(outgoing.slice(i, i + page)))
      await producer.sendBatch({ topicMessages, acks: -1 });
  }
}

/** Reads the whole log of a store-like reader into memory, page by page. */
export async function readWholeLog(
  readAll: (o: { after: number; maxCount: number }) => Promise<RawRecordedEvent[]>,
): Promise<RawRecordedEvent[]> {
  const out: RawRecordedEvent[] = [];
  for (let after = 0; ;) {
    const page = await readAll({ after, maxCount: 5000 });
    if (page.length === 0) return out;
    for (const e of page) out.push(e);
    after = page[page.length - 1]!.globalPosition;
  }
}
