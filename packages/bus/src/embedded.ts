import { topicForStream } from '@onestop/events';
import type { EventStore, SqlDriver, Subscription } from '@onestop/eventstore';
import { SqlDeadLetters } from './dead-letters.js';
import { handleWithRetries, validateBatch, type Incoming } from './handling.js';
import type { ConsumeOptions, DeadLetter, EventBus, RunningConsumer } from './port.js';

export interface BusLogger {
  info?(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The embedded bus: consumers read the event store's global log directly, with
 * a named checkpoint per group. The "topics" are the stream categories that
 * DESIGN §5 maps to topics, so services run unchanged on either bus.
 */
export class EmbeddedBus implements EventBus {
  readonly kind = 'embedded' as const;
  private readonly running = new Set<Subscription>();
  private readonly dlq: SqlDeadLetters;

  constructor(
    private readonly store: EventStore,
    db: SqlDriver,
    private readonly logger?: BusLogger,
  ) {
    this.dlq = new SqlDeadLetters(db);
  }

  async migrate(): Promise<void> {
    await this.dlq.migrate();
  }

  async consume(options: ConsumeOptions): Promise<RunningConsumer & { readonly position: number; reached(position: number, timeoutMs?: number): Promise<void> }> {
    const topics = new Set(options.topics);
    let stopped = false;
    const sub = this.store.subscribeToAll({
      checkpoint: `bus:${options.group}`,
      batchSize: options.batchSize ?? 500,
      handle: async (events) => {
        const incoming: Incoming[] = events
          .filter((e) => topics.has(topicForStream(e.subject) ?? ''))
          .map((e) => ({ origin: `store@${e.globalPosition}`, key: e.partitionKey, value: e, headers: {} }));
        const { valid, rejected } = validateBatch(incoming);
        for (const r of rejected) await this.deadLetter(options.group, r.message, r.reason);
        await handleWithRetries(valid, options.handle, (r) => this.deadLetter(options.group, r.message, r.reason), {
          maxAttempts: options.maxAttempts ?? 8,
          stopped: () => stopped,
          onError: (e, attempt) => this.logger?.warn({ err: e, group: options.group, attempt }, 'consumer handler failed; retrying'),
        });
      },
      onError: (e) => this.logger?.error({ err: e, group: options.group }, 'embedded consumer error'),
    });
    this.running.add(sub);
    return {
      group: options.group,
      get position() {
        return sub.position;
      },
      reached: (p, t) => sub.reached(p, t),
      stop: async () => {
        stopped = true;
        this.running.delete(sub);
        await sub.stop();
      },
    };
  }

  private async deadLetter(group: string, m: Incoming, reason: string): Promise<void> {
    const letter: DeadLetter = { group, reason, origin: m.origin, key: m.key, payload: m.value ?? m.raw ?? null, headers: m.headers };
    this.logger?.warn({ group, origin: m.origin, reason }, 'message dead-lettered');
    await this.dlq.record(letter);
  }

  deadLetters(group?: string, limit?: number): Promise<DeadLetter[]> {
    return this.dlq.list(group, limit);
  }

  async healthy(): Promise<boolean> {
    try {
      await this.store.headPosition();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.running].map((s) => s.stop()));
  }
}
