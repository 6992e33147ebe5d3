import type { RawRecordedEvent } from '@onestop/events';
import { Wakeup } from './catch-up.js';
import type { LogFilter, SubscribeOptions, Subscription } from './port.js';

/** A global log that filters on the server and can say where its head is. */
export interface FilteredLogSource {
  /** the global position of the newest event a reader can see now (0: none) */
  headPosition(): Promise<number>;
  /** at most `limit` events after `after` that pass `filter`, in global order, gap-free */
  readPage(after: number, limit: number, filter: LogFilter | undefined): Promise<RawRecordedEvent[]>;
  loadCheckpoint(name: string): Promise<number | undefined>;
  saveCheckpoint(name: string, position: number): Promise<void>;
  /** registers a subscriber's wake-up for new-event signals; returns the unregister function */
  onAppended(wakeup: Wakeup): () => void;
  /** how long an idle subscriber waits for a wake-up before it looks anyway (ms) */
  pollIntervalMs: number;
}

/**
 * Checkpointed catch-up then live subscription over a log that filters on the
 * server (KurrentDB's `$all`). Same contract as `CatchUpSubscription`: batches
 * in global order, each handed over once and retried (never skipped) when the
 * handler throws, the checkpoint saved after every batch.
 *
 * Filtering on the server means a page holds only wanted events, so the page
 * alone cannot say how far the log was looked at. The head is read first: when
 * the page comes back short, every wanted event up to that head was in it (the
 * log is gap-free and the head was already readable when the page was read),
 * so the position moves to the head even when the last events were filtered
 * out. `reached(headPosition())` therefore holds for any filter.
 */
export class FilteredCatchUpSubscription implements Subscription {
  private current = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly progress = new Wakeup();
  /** woken by new events and by stop() */
  private readonly wake = new Wakeup();
  private readonly unregister: () => void;

  constructor(
    private readonly source: FilteredLogSource,
    private readonly options: SubscribeOptions,
  ) {
    this.unregister = source.onAppended(this.wake);
    this.done = this.run().finally(() => this.unregister());
  }

  get position(): number {
    return this.current;
  }

  private async run(): Promise<void> {
    const { checkpoint, batchSize = 500, filter, handle, onError } = this.options;
    let failures = 0;
    try {
      this.current = (checkpoint ? await this.source.loadCheckpoint(checkpoint) : undefined) ?? this.options.from ?? 0;
    } catch (e) {
      onError?.(e);
      this.current = this.options.from ?? 0;
    }
    while (!this.stopped) {
      try {
        const head = await this.source.headPosition();
        const page = await this.source.readPage(this.current, batchSize, filter);
        if (page.length > 0) await handle(page);
        const last = page.length > 0 ? page[page.length - 1]!.globalPosition : this.current;
        const caughtUp = page.length < batchSize;
        const next = caughtUp ? Math.max(last, head) : last;
        if (next > this.current) {
          if (checkpoint) await this.source.saveCheckpoint(checkpoint, next);
          this.current = next;
          this.progress.notify();
        }
        failures = 0;
        if (caughtUp) await this.wake.wait(this.source.pollIntervalMs);
      } catch (e) {
        if (this.stopped) break;
        onError?.(e);
        failures += 1;
        const backoff = Math.min(5000, 50 * 2 ** Math.min(failures, 7));
        await this.wake.wait(backoff);
      }
    }
  }

  async reached(position: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.current < position) {
      if (this.stopped) throw new Error('subscription stopped');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`subscription at ${this.current}, not at ${position} after ${timeoutMs} ms`);
      await this.progress.wait(Math.min(left, 100));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.notify();
    await this.done;
  }
}
