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

/**
 * Catch-up then live subscription over any gap-safe log reader. Pages are read
 * in global order; each batch is handed over once, and retried (never skipped)
 * when the handler throws.
 */
export class CatchUpSubscription implements Subscription {
  private current = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly progress = new Wakeup();
  /** woken by new events and by stop() */
  private readonly wake = new Wakeup();
  private readonly unregister: () => void;

  constructor(
    private readonly source: CatchUpSource,
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
        const page = await this.source.readPage(this.current, batchSize);
        if (page.length === 0) {
          await this.wake.wait(this.source.pollIntervalMs);
          continue;
        }
        const wanted = filter ? page.filter((e) => matches(filter, e)) : page;
        if (wanted.length > 0) await handle(wanted);
        const last = page[page.length - 1]!.globalPosition;
        if (checkpoint) await this.source.saveCheckpoint(checkpoint, last);
        this.current = last;
        failures = 0;
        this.progress.notify();
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
