import type { RecordedEvent } from '@onestop/events';
import type { DeadLetterFilter } from './dead-letters.js';

/** Where a dead letter stands: see bus.dead_letters in dead-letters.ts. */
export type DeadLetterStatus = 'open' | 'redrive_requested' | 'redriven' | 'resolved' | 'redrive_failed';

/** A message that could not be handled, as a bus records it: nothing is dropped. */
export interface NewDeadLetter {
  group: string;
  reason: string;
  /** where it came from: `store@<position>` or `<topic>/<partition>@<offset>` */
  origin: string;
  key: string | null;
  /** the message as received (parsed JSON, or the raw text when it was not JSON) */
  payload: unknown;
  headers: Record<string, string>;
  /** the dead letter this message was re-driven from (set by the bus, never taken from a header) */
  redriveOf?: string | null;
  /** the original key and value bytes (Kafka), kept for a re-drive; absent when too big */
  raw?: { key: Buffer | null; value: Buffer | null };
}

/** One re-drive of a dead letter: who, when, why. */
export interface Redrive {
  at: string;
  by: string;
  reason: string;
}

/** A dead letter as recorded (bus.dead_letters). */
export interface DeadLetter extends Omit<NewDeadLetter, 'raw' | 'redriveOf'> {
  id: string;
  recordedAt: string;
  status: DeadLetterStatus;
  /** the dead letter whose re-drive failed again as this one */
  redriveOf: string | null;
  lastRedrive: Redrive | null;
}

export interface ConsumeOptions {
  /** consumer group (Kafka) or checkpoint name (embedded) */
  group: string;
  /** internal topics of DESIGN §5 to consume */
  topics: readonly string[];
  /**
   * Handles a batch of validated events, in order per key. Effects must be
   * idempotent: delivery is at-least-once. A throw retries the batch with
   * backoff; a batch that keeps failing is split, and the message that fails
   * alone goes to the dead-letter queue with the error as its reason.
   */
  handle(batch: RecordedEvent[]): Promise<void>;
  batchSize?: number;
  /**
   * @deprecated ignored: a permanent failure is dead-lettered at once, a
   * transient one after `transientRetryMs` of retries
   */
  maxAttempts?: number;
  /**
   * How long a transient failure of one message is retried (backoff 100 ms
   * doubling to 30 s) before it is dead-lettered; meanwhile the messages after
   * it in its partition wait. Default: the bus's (ONESTOP_TRANSIENT_RETRY_MS,
   * 10 minutes).
   */
  transientRetryMs?: number;
  /**
   * Batches of different partitions handled at once (Kafka; default 1). Order
   * per key stays; the handler must tolerate batches of other keys running
   * beside it. The embedded bus reads one log and ignores it.
   */
  concurrency?: number;
}

export interface RunningConsumer {
  readonly group: string;
  stop(): Promise<void>;
}

/** The EventBus port: consumers of the internal topics, fed from the store's log. */
export interface EventBus {
  readonly kind: 'embedded' | 'kafka';
  consume(options: ConsumeOptions): Promise<RunningConsumer>;
  /** dead letters, newest first: those the filter selects (a page of them, see DeadLetterFilter) */
  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** dead letters recorded for a group (newest first) */
  deadLetters(group?: string, limit?: number): Promise<DeadLetter[]>;
  /** one dead letter with every re-drive of it; undefined when there is none with this id */
  deadLetter(id: string): Promise<(DeadLetter & { redrives: Redrive[] }) | undefined>;
  /**
   * Hands a dead letter back to the consumer group it failed in (its original
   * key, value and headers plus `dlq_redrive_of`) and records who, when and
   * why. The group's handlers are idempotent, so a message re-driven twice is
   * applied once; one that fails again becomes a new dead letter naming this
   * one. Throws NotFoundError for an unknown id.
   */
  redrive(id: string, by: { actor: string; reason: string }): Promise<Redrive>;
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
