import type { RecordedEvent } from '@onestop/events';

/** A message that could not be handled, kept with its reason: nothing is dropped. */
export interface DeadLetter {
  group: string;
  reason: string;
  /** where it came from: `store@<position>` or `<topic>/<partition>@<offset>` */
  origin: string;
  key: string | null;
  /** the message as received (parsed JSON, or the raw text when it was not JSON) */
  payload: unknown;
  headers: Record<string, string>;
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
  /** attempts before a failing message is dead-lettered (default 8) */
  maxAttempts?: number;
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
  /** dead letters recorded for a group (newest first) */
  deadLetters(group?: string, limit?: number): Promise<DeadLetter[]>;
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
