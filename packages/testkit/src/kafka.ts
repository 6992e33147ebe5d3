import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { eventually } from './eventually.js';

/** Every message of a topic up to its end now (its high watermarks), as raw bytes, with a throw-away consumer group. */
export async function readTopicToEnd(kafka: Kafka, topic: string, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const out: KafkaMessage[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void out.push(message) });
    await eventually(() => {
      if (out.length < total) throw new Error(`read ${out.length} of ${total} messages of ${topic}`);
    }, timeoutMs, 100);
  } finally {
    await consumer.disconnect();
  }
  return out;
}
