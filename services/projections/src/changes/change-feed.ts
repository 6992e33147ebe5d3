// "Something changed at position N": what the console's lists listen to, so
// that they refresh when the read models move, never on a timer. It carries a
// global position and nothing else (no type, no stream, no personal data): a
// client that hears it reads again with `?after=N`, through the API and its
// role's rules.

type Listener = (position: number) => void;

/**
 * The position a batch moves the feed to: its highest event that changes what
 * a list shows. A recorded read (CaseHistoryRead) changes nothing a list shows,
 * and announcing it would loop: every open screen that shows decrypted data
 * reads again on a change, that read is recorded, its record is projected and
 * announced, and so on, flooding the read audit for as long as the screen is
 * open. (An auditor's list of reads refreshes with the next real change.)
 */
export function changedPosition(batch: readonly { type: string; globalPosition: number }[]): number | undefined {
  let max: number | undefined;
  for (const e of batch) if (e.type !== 'CaseHistoryRead' && (max === undefined || e.globalPosition > max)) max = e.globalPosition;
  return max;
}

/** The highest global position the projections consumer has applied, and who wants to hear when it moves. */
export class ChangeFeed {
  private last = 0;
  private readonly listeners = new Set<Listener>();

  /** the highest position applied so far by this process (0: nothing yet) */
  get position(): number {
    return this.last;
  }

  /** Called after a batch is applied: positions only move forward (a redelivered batch says nothing new). */
  advance(position: number): void {
    if (!Number.isSafeInteger(position) || position <= this.last) return;
    this.last = position;
    for (const l of this.listeners) l(position);
  }

  /** Calls `listener` on every move; returns the function that stops it. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
