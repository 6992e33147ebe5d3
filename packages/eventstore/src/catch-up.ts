import type { RawRecordedEvent } from '@onestop/events';
import type { LogFilter, SubscribeOptions, Subscription } from './port.js';

/**
 * A level-triggered wake-up: a notify that arrives while nobody waits is kept,
 * so a subscriber that was busy reading never misses it.
 */
export class Wakeup {
  private pending = false;
  private waiters: Array<() => void> = [];

  notify(): void {
    this.pending = true;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves on the next (or a pending) notify, or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, ms);
      this.waiters.push(done);
    });
  }
}

export function matches(filter: LogFilter | undefined, e: RawRecordedEvent): boolean {
  if (!filter) return true;
  if (filter.types && !filter.types.includes(e.type)) return false;
  if (filter.streamPrefix && !e.subject.startsWith(filter.streamPrefix)) return false;
  return true;
}

export interface CatchUpSource {
  /** a gap-safe page of the global log after `after` */
  readPage(after: number, limit: number): Promise<RawRecordedEvent[]>;
  loadCheckpoint(name: string): Promise<number | undefined>;
  saveCheckpoint(name: string, position: number): Promise<void>;
  /** registers a subscriber's wake-up for new-event signals; returns the unregister function */
  onAppended(wakeup: Wakeup): () => void;
  /** safety net for wake-ups that cannot be signalled (e.g. a long unrelated transaction ending) */
  pollIntervalMs: number;
}

/** One step of a subscription: the events to hand over and where the log was read up to. */
export interface LogStep {
  events: RawRecordedEvent[];
  /** the position to checkpoint once `events` are handled */
  next: number;
  /** nothing more to read now: wait for a wake-up */
  caughtUp: boolean;
}

/** A subscription's checkpoint could not be loaded: retried (`retryInMs`), or given up on, failing the subscription. */
export class CheckpointLoadError extends Error {
  override readonly name = 'CheckpointLoadError';

  constructor(
    readonly checkpoint: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    cause: unknown,
    /** when another attempt follows; undefined: the subscription failed */
    readonly retryInMs?: number,
  ) {
    super(
      retryInMs === undefined
        ? `subscription failed: checkpoint "${checkpoint}" could not be loaded (${attempts} attempts in ${elapsedMs} ms); it does not start from the beginning instead: ${String((cause as Error)?.message ?? cause)}`
        : `checkpoint "${checkpoint}" could not be loaded (attempt ${attempts}); retrying in ${retryInMs} ms: ${String((cause as Error)?.message ?? cause)}`,
      { cause },
    );
  }
}

/**
 * Checkpointed catch-up then live subscription: batches in global order, each
 * handed over once and retried (never skipped) when the handler throws, the
 * checkpoint saved after every batch. Adapters say how to read the next step.
 */
export abstract class LogSubscription implements Subscription {
  private current = 0;
  private stopped = false;
  /** the start position is known (the checkpoint was loaded): only then may stop() save one */
  private started = false;
  /** why the subscription failed, if it did */
  private failure: unknown;
  private readonly done: Promise<void>;
  readonly ended: Promise<void>;
  private readonly progress = new Wakeup();
  /** position of the last checkpoint stored */
  private saved = -1;
  private savedAt = 0;
  private saving: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  /** woken by new events and by stop() */
  private readonly wake = new Wakeup();
  /** woken by stop() alone: a backoff that new events must not cut short */
  private readonly stopping = new Wakeup();

  constructor(
    private readonly base: Pick<CatchUpSource, 'loadCheckpoint' | 'saveCheckpoint' | 'onAppended' | 'pollIntervalMs'>,
    protected readonly options: SubscribeOptions,
  ) {
    const unregister = base.onAppended(this.wake);
    // started on the next tick, so subclasses finish constructing first
    this.ended = Promise.resolve()
      .then(() => this.run())
      .finally(unregister);
    // stop() waits for the end but does not rethrow a failure: that is `ended`'s (and reached()'s)
    this.done = this.ended.catch(() => undefined);
  }

  /** Reads what follows `after`. */
  protected abstract step(after: number, batchSize: number): Promise<LogStep>;

  get position(): number {
    return this.current;
  }

  /**
   * Where to start: the stored checkpoint, else `from`, else 0. A load that
   * fails is retried with growing backoff (each failure goes to onError); one
   * that still fails after `checkpointLoadTimeoutMs` fails the subscription.
   * It never starts from `from` or 0 because a load failed: that would hand the
   * whole log over again (e.g. the relay republishing it during a failover).
   * Undefined when stopped meanwhile.
   */
  private async startPosition(): Promise<number | undefined> {
    const { checkpoint, from, onError, checkpointLoadTimeoutMs = 30_000 } = this.options;
    if (!checkpoint) return from ?? 0;
    const began = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await this.base.loadCheckpoint(checkpoint);
        if (stored !== undefined) this.saved = stored;
        return stored ?? from ?? 0;
      } catch (e) {
        if (this.stopped) return undefined;
        const delay = Math.min(5000, 50 * 2 ** (attempt - 1));
        const elapsed = Date.now() - began;
        if (elapsed + delay > checkpointLoadTimeoutMs) throw new CheckpointLoadError(checkpoint, attempt, elapsed, e);
        onError?.(new CheckpointLoadError(checkpoint, attempt, elapsed, e, delay));
        await this.stopping.wait(delay);
        if (this.stopped) return undefined;
      }
    }
  }

  private async run(): Promise<void> {
    const { checkpoint, batchSize = 500, handle, onError } = this.options;
    let failures = 0;
    try {
      const start = await this.startPosition();
      if (start === undefined) return;
      this.current = start;
      this.started = true;
    } catch (e) {
      // fail loudly: stopped, reached() rejects, `ended` rejects, the owner is told
      this.failure = e;
      this.stopped = true;
      this.progress.notify();
      onError?.(e);
      throw e;
    }
    while (!this.stopped) {
      try {
        const { events, next, caughtUp } = await this.step(this.current, batchSize);
        if (events.length > 0) await handle(events);
        if (next > this.current) {
          if (checkpoint && Date.now() - this.savedAt >= (this.options.checkpointEveryMs ?? 0)) await this.persist(checkpoint, next);
          this.current = next;
          if (checkpoint && this.saved < next) this.flushLater(checkpoint);
          this.progress.notify();
        }
        failures = 0;
        if (caughtUp) await this.wake.wait(this.base.pollIntervalMs);
      } catch (e) {
        if (this.stopped) break;
        onError?.(e);
        failures += 1;
        await this.wake.wait(Math.min(5000, 50 * 2 ** Math.min(failures, 7)));
      }
    }
  }

  /** Saves checkpoints one after another, so a later position is never overwritten by an earlier one. */
  private persist(name: string, position: number): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.savedAt = Date.now();
    const save = this.saving.then(async () => {
      await this.base.saveCheckpoint(name, position);
      this.saved = Math.max(this.saved, position);
    });
    this.saving = save.catch(() => undefined);
    return save;
  }

  /** A checkpoint held back by checkpointEveryMs is saved when the interval is over, even if no batch follows. */
  private flushLater(name: string): void {
    this.flushTimer ??= setTimeout(
      () => {
        this.flushTimer = undefined;
        if (this.saved < this.current) this.persist(name, this.current).catch((e: unknown) => this.options.onError?.(e));
      },
      Math.max(0, (this.options.checkpointEveryMs ?? 0) - (Date.now() - this.savedAt)),
    );
  }

  async reached(position: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.current < position) {
      if (this.failure !== undefined) throw this.failure;
      if (this.stopped) throw new Error('subscription stopped');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`subscription at ${this.current}, not at ${position} after ${timeoutMs} ms`);
      await this.progress.wait(Math.min(left, 100));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.notify();
    this.stopping.notify();
    await this.done;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    // what was handled but held back by checkpointEveryMs
    const { checkpoint } = this.options;
    await this.saving;
    if (checkpoint && this.started && this.saved < this.current) await this.persist(checkpoint, this.current).catch((e: unknown) => this.options.onError?.(e));
  }
}

/**
 * Over a gap-safe log reader that cannot filter (the SQL adapters): pages of
 * the whole log, filtered here, so the position advances past unwanted events.
 */
export class CatchUpSubscription extends LogSubscription {
  constructor(
    private readonly source: CatchUpSource,
    options: SubscribeOptions,
  ) {
    super(source, options);
  }

  /** the next page, asked for while the handler works on this one (catching up only) */
  private ahead: { after: number; page: Promise<RawRecordedEvent[]> } | undefined;

  protected async step(after: number, batchSize: number): Promise<LogStep> {
    const ahead = this.ahead;
    this.ahead = undefined;
    // a page read ahead from elsewhere (the handler failed and this one comes again) is dropped
    const page = await (ahead?.after === after ? ahead.page : this.source.readPage(after, batchSize));
    if (page.length === batchSize) {
      // more to read: the database reads the next page while this one is handled.
      // Each page is gap-safe on its own, so reading it earlier changes nothing
      const next = page[page.length - 1]!.globalPosition;
      const read = this.source.readPage(next, batchSize);
      read.catch(() => undefined);
      this.ahead = { after: next, page: read };
    }
    const { filter } = this.options;
    return {
      events: filter ? page.filter((e) => matches(filter, e)) : page,
      next: page.length > 0 ? page[page.length - 1]!.globalPosition : after,
      caughtUp: page.length < batchSize,
    };
  }
}
