import { withoutFreeText } from './free-text.js';
import { ConflictError, NotFoundError, topicForStream, type RecordedEvent } from '@onestop/events';
import type { EventStore, SqlDriver, Subscription } from '@onestop/eventstore';
import { SqlDeadLetters, deadLetterFilter, type DeadLetterFilter } from './dead-letters.js';
import { DEFAULT_TRANSIENT_RETRY_MS, handleWithRetries, validateBatch, type Incoming } from './handling.js';
import type { ConsumeOptions, DeadLetter, EventBus, NewDeadLetter, Redrive, RunningConsumer } from './port.js';
import { tracedHandler } from './tracing.js';

export interface EmbeddedBusOptions {
  /** how long a transient handler failure is retried before dead-lettering (default 10 minutes) */
  transientRetryMs?: number;
  /** how often a consumer looks for dead letters re-driven to its group (default 1 s) */
  redrivePollMs?: number;
  /** pause before a consumer whose subscription failed for good starts over (default 5 s) */
  restartAfterMs?: number;
}

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
    private readonly options: EmbeddedBusOptions = {},
  ) {
    this.dlq = new SqlDeadLetters(db);
  }

  async migrate(): Promise<void> {
    await this.dlq.migrate();
  }

  async consume(given: ConsumeOptions): Promise<RunningConsumer & { readonly position: number; reached(position: number, timeoutMs?: number): Promise<void> }> {
    const options = { ...given, handle: tracedHandler(given.group, given.handle) };
    const topics = new Set(options.topics);
    let stopped = false;
    const retry = {
      transientRetryMs: options.transientRetryMs ?? this.options.transientRetryMs ?? DEFAULT_TRANSIENT_RETRY_MS,
      stopped: () => stopped,
      onError: (e: unknown, attempt: number, kind: string) => this.logger?.warn({ err: e, group: options.group, attempt, kind }, 'consumer handler failed'),
    };
    const subscribe = () =>
      this.store.subscribeToAll({
        checkpoint: `bus:${options.group}`,
        batchSize: options.batchSize ?? 500,
        handle: async (events) => {
          const incoming: Incoming[] = events
            .filter((e) => topics.has(topicForStream(e.subject) ?? ''))
            .map((e) => ({ origin: `store@${e.globalPosition}`, key: e.partitionKey, value: e, headers: {} }));
          const { valid, rejected } = validateBatch(incoming);
          for (const r of rejected) await this.recordDeadLetter(options.group, r.message, r.reason);
          await handleWithRetries(valid, options.handle, (r) => this.recordDeadLetter(options.group, r.message, r.reason), retry);
        },
        onError: (e) => this.logger?.error({ err: e, group: options.group }, 'embedded consumer error'),
      });
    let sub = subscribe();
    let restart: NodeJS.Timeout | undefined;
    // a subscription that failed for good (its checkpoint could not be loaded)
    // starts over from the stored checkpoint after a pause, never from the start
    const watch = (s: typeof sub) =>
      s.ended.catch((e: unknown) => {
        if (stopped) return;
        this.logger?.error({ err: e, group: options.group }, 'embedded consumer failed; starting over from its checkpoint in 5 s');
        this.running.delete(s);
        restart = setTimeout(() => {
          if (stopped) return;
          sub = subscribe();
          this.running.add(sub);
          void watch(sub);
        }, this.options.restartAfterMs ?? 5_000);
      });
    this.running.add(sub);
    void watch(sub);
    // dead letters re-driven to this group (by this process or the CLI): handled beside the log
    let polling: Promise<void> = Promise.resolve();
    const poll = setInterval(() => {
      polling = polling.then(() => this.handleRedriven(options.group, options.handle, retry)).catch((e: unknown) => {
        if (!stopped) this.logger?.warn({ err: e, group: options.group }, 're-driving dead letters failed; trying again');
      });
    }, this.options.redrivePollMs ?? 1000);
    return {
      group: options.group,
      get position() {
        return sub.position;
      },
      reached: (p, t) => sub.reached(p, t),
      stop: async () => {
        stopped = true;
        clearInterval(poll);
        clearTimeout(restart);
        this.running.delete(sub);
        await Promise.all([sub.stop(), polling]);
      },
    };
  }

  /** Hands the dead letters re-driven to `group` to its handler, as the log's events are; marks the handled ones resolved. */
  private async handleRedriven(
    group: string,
    handle: (batch: RecordedEvent[]) => Promise<void>,
    retry: Parameters<typeof handleWithRetries>[3],
  ): Promise<void> {
    const letters = await this.dlq.list({ group, status: 'redrive_requested', limit: 100 });
    for (const l of letters.reverse()) {
      if (retry.stopped?.()) return;
      // one origin per re-drive: a second re-drive that fails again is a dead letter of its own
      const message: Incoming = { origin: `redrive:${l.id}@${l.lastRedrive?.at ?? l.recordedAt}`, key: l.key, value: l.payload, headers: { ...l.headers, dlq_redrive_of: l.id } };
      let failed = false;
      const deadLetter = async (reason: string) => {
        failed = true;
        await this.recordDeadLetter(group, message, reason, l.id);
      };
      const { valid, rejected } = validateBatch([message]);
      for (const r of rejected) await deadLetter(r.reason);
      await handleWithRetries(valid, handle, (r) => deadLetter(r.reason), retry);
      if (!failed) {
        await this.dlq.resolved([l.id]);
        this.logger?.info?.({ group, deadLetter: l.id }, 're-driven dead letter handled');
      }
    }
  }

  private async recordDeadLetter(group: string, m: Incoming, reason: string, redriveOf: string | null = null): Promise<void> {
    // a dead letter lives outside the log, out of reach of erasure: no free text in it
    const letter: NewDeadLetter = { group, reason, origin: m.origin, key: m.key, payload: withoutFreeText(m.value ?? m.raw ?? null), headers: m.headers, redriveOf };
    this.logger?.warn({ group, origin: m.origin }, 'message dead-lettered');
    await this.dlq.record(letter);
  }

  deadLetters(filter?: DeadLetterFilter | string, limit?: number): Promise<DeadLetter[]> {
    return this.dlq.list(deadLetterFilter(filter, limit));
  }

  deadLetter(id: string): Promise<(DeadLetter & { redrives: Redrive[] }) | undefined> {
    return this.dlq.get(id);
  }

  /**
   * Records the re-drive and leaves the dead letter `redrive_requested`: the
   * consumer of its group (in this process or the next to start) handles it
   * within a second, as it handles the log, and marks it resolved.
   */
  async redrive(id: string, by: { actor: string; reason: string }): Promise<Redrive> {
    const letter = await this.dlq.get(id);
    if (!letter) throw new NotFoundError('dead letter', id);
    if (letter.payload == null) throw new ConflictError('not_redrivable', `dead letter ${id} kept no message to hand back`);
    const redrive = await this.dlq.recordRedrive(id, { by: by.actor, reason: by.reason, status: 'redrive_requested' });
    this.logger?.info?.({ deadLetter: id, group: letter.group, origin: letter.origin, by: by.actor, reason: by.reason.slice(0, 300) }, 'dead letter re-driven');
    return redrive;
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
