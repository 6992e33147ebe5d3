import type { RawRecordedEvent } from '@onestop/events';
import { LogSubscription, type LogStep, type Wakeup } from './catch-up.js';
import type { LogFilter, SubscribeOptions } from './port.js';

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
export class FilteredCatchUpSubscription extends LogSubscription {
  constructor(
    private readonly source: FilteredLogSource,
    options: SubscribeOptions,
  ) {
    super(source, options);
  }

  protected async step(after: number, batchSize: number): Promise<LogStep> {
    const head = await this.source.headPosition();
    const page = await this.source.readPage(after, batchSize, this.options.filter);
    const last = page.length > 0 ? page[page.length - 1]!.globalPosition : after;
    const caughtUp = page.length < batchSize;
    return { events: page, next: caughtUp ? Math.max(last, head) : last, caughtUp };
  }
}
