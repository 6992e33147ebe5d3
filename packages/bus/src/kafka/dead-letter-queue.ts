import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { utf8Text } from './cloudevents.js';

/** A message as it was read from a topic: the DLQ keeps its original bytes. */
export interface SourceMessage {
  topic: string;
  partition: number;
  offset: string;
  message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>;
  /** a re-driven dead letter (read from the re-drive topic): its id, and the topic it counts as coming from */
  redrive?: { id: string; topic: string };
}

export interface DeadLetterMeta {
  reason: string;
  group: string;
  /** ISO instant */
  time: string;
}

/**
 * Size budget of one DLQ record, under the broker's default 1 MB
 * (`message.max.bytes` 1048588) for a record batch of one record.
 */
export const DLQ_RECORD_BUDGET = 1_000_000;
const HEADER_VALUE_MAX = 16 * 1024;
const HEADERS_MAX = 64 * 1024;
const KEY_MAX = 16 * 1024;

const bytesOf = (v: Buffer | string | null | undefined): number => (v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
const asBuffer = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

function dlqHeaders(source: SourceMessage, meta: DeadLetterMeta): Record<string, string> {
  return {
    dlq_reason: meta.reason.slice(0, 2000),
    dlq_topic: source.topic,
    dlq_partition: String(source.partition),
    dlq_offset: source.offset,
    dlq_group: meta.group,
    dlq_time: meta.time,
    ...(source.redrive ? { dlq_redrive_of: source.redrive.id } : {}),
  };
}

/**
 * The DLQ copy of a message: its original key, value and headers plus the
 * `dlq_*` headers, kept within DLQ_RECORD_BUDGET. What does not fit (an
 * oversized value, absurd headers or key) is truncated, and a `dlq_truncated`
 * header says what and where the original is.
 */
export function deadLetterRecord(source: SourceMessage, meta: DeadLetterMeta, budget = DLQ_RECORD_BUDGET): Message {
  const notes: string[] = [];
  const headers: IHeaders = {};
  let headerBytes = 0;
  for (const [name, v] of Object.entries(source.message.headers ?? {})) {
    if (v === undefined || name.startsWith('dlq_')) continue;
    const values = (Array.isArray(v) ? v : [v]).map((x) => {
      const b = asBuffer(x);
      if (b.length <= HEADER_VALUE_MAX) return b;
      notes.push(`header ${name.slice(0, 100)} cut to ${HEADER_VALUE_MAX} of ${b.length} bytes`);
      return b.subarray(0, HEADER_VALUE_MAX);
    });
    const size = Buffer.byteLength(name) + values.reduce((s, b) => s + b.length, 0);
    if (headerBytes + size > HEADERS_MAX) {
      notes.push(`header ${name.slice(0, 100)} dropped (${size} bytes over the header budget)`);
      continue;
    }
    headerBytes += size;
    headers[name] = values.length === 1 && !Array.isArray(v) ? values[0] : values;
  }
  let key = source.message.key ?? null;
  if (key && key.length > KEY_MAX) {
    notes.push(`key cut to ${KEY_MAX} of ${key.length} bytes`);
    key = key.subarray(0, KEY_MAX);
  }
  const own = dlqHeaders(source, meta);
  const ownBytes = Object.entries(own).reduce((s, [k, v]) => s + k.length + bytesOf(v), 0) + 600; // + dlq_truncated, record overhead
  let value = source.message.value ?? null;
  const room = Math.max(0, budget - ownBytes - headerBytes - bytesOf(key));
  if (value && value.length > room) {
    notes.push(`value cut to ${room} of ${value.length} bytes`);
    value = value.subarray(0, room);
  }
  if (notes.length > 0) own.dlq_truncated = `${notes.join('; ').slice(0, 400)}; original at ${source.topic}/${source.partition}@${source.offset}`;
  return { key, value, headers: { ...headers, ...own } };
}

/**
 * The last resort when the broker refuses even the budgeted copy (a smaller
 * `max.message.bytes` on the DLQ topic): key and `dlq_*` headers only.
 */
export function minimalDeadLetterRecord(source: SourceMessage, meta: DeadLetterMeta, refusal: string): Message {
  const key = source.message.key ?? null;
  return {
    key: key && key.length > 1024 ? key.subarray(0, 1024) : key,
    value: null,
    headers: {
      ...dlqHeaders(source, meta),
      dlq_truncated: `value (${bytesOf(source.message.value)} bytes) and headers dropped: ${refusal.slice(0, 200)}; original at ${source.topic}/${source.partition}@${source.offset}`,
    },
  };
}

/** Largest payload (bytes) kept whole in the SQL record of a dead letter. */
export const SQL_PAYLOAD_MAX = 64 * 1024;

/**
 * The payload an operator sees in SQL: the decoded envelope when there is one,
 * else the value as JSON, as text, or as base64; big values by their head only
 * (the DLQ topic holds the bytes).
 */
export function sqlPayload(decoded: unknown, value: Buffer | null): unknown {
  if (value == null) return decoded ?? null;
  if (value.length > SQL_PAYLOAD_MAX) {
    const head = value.subarray(0, 4096);
    const text = utf8Text(head);
    return { truncated: true, bytes: value.length, ...(text !== undefined ? { head: text } : { headBase64: head.toString('base64') }) };
  }
  if (decoded !== undefined) return decoded;
  const text = utf8Text(value);
  if (text === undefined) return { base64: value.toString('base64') };
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
