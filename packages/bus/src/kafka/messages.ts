import { utf8Text } from './cloudevents.js';

// Consumers of topics that carry no catalog events (a partner's answers, for
// one): the bus does the group, the batches, the commits and the dead letters,
// the consumer says what a valid message is (`parse`) and what to do with it.

/** One message of a non-catalog topic, as a consumer's `parse` sees it. */
export interface ReceivedMessage {
  /** the topic's name as the consumer asked for it (without the bus's test prefix) */
  topic: string;
  partition: number;
  offset: string;
  /** the key as UTF-8 text, `base64:…` when it is not UTF-8, or null */
  key: string | null;
  /** the value's bytes, as received */
  value: Buffer | null;
  /** header values as text (UTF-8, or `base64:…`), each cut at 4 KiB */
  headers: Record<string, string>;
}

/** What `parse` makes of a message: a value to handle, or the reason it goes to the dead-letter queue. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Either a fixed list of topics, or every topic whose name matches a pattern. */
export type TopicSelection =
  | {
      /** topic names without the test prefix; they must exist (auto-creation is off) */
      topics: readonly string[];
      topicPattern?: never;
    }
  | {
      /**
       * every existing topic whose name (without the test prefix) matches, as
       * listed when the consumer starts and at each `refresh()`: the broker
       * does not tell a running consumer about topics created later
       */
      topicPattern: RegExp;
      topics?: never;
    };

export type ConsumeMessagesOptions<T> = TopicSelection & {
  /** consumer group */
  group: string;
  /**
   * Validates and decodes one message. Never throws (a throw counts as
   * `{ ok: false }` with the error as reason); an invalid message goes to the
   * dead-letter queue (DLQ topic and SQL) with the reason, and is committed.
   */
  parse(message: ReceivedMessage): Parsed<T>;
  /**
   * Handles a batch of parsed values, in order per partition; at-least-once, so
   * effects must be idempotent. Failures are retried, split and dead-lettered
   * exactly as for `consume` (classifyFailure: a permanent one at once, a
   * transient one after the retry window).
   */
  handle(batch: T[]): Promise<void>;
  batchSize?: number;
  /** @deprecated ignored: see ConsumeOptions.transientRetryMs */
  maxAttempts?: number;
  /** see ConsumeOptions.transientRetryMs */
  transientRetryMs?: number;
};

/** Strict UTF-8 JSON of a message's value, or why it is not that. */
export function jsonValue(m: Pick<ReceivedMessage, 'value'>): Parsed<unknown> {
  if (m.value == null) return { ok: false, reason: 'invalid: no value' };
  const text = utf8Text(m.value);
  if (text === undefined) return { ok: false, reason: 'invalid: value is not UTF-8' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'invalid: value is not JSON' };
  }
}
