import { z } from 'zod';
import { PositionNotReached } from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';

// Reading one's own writes from a view (DESIGN §9: views only consume, so
// they lag the store a little). A command's response carries the global
// position of what it recorded; a read route that takes `after=<position>`
// waits, bounded, until its view has applied that event, then answers.

/** The `after` query parameter of the read routes that serve a view. */
export const AfterPosition = z.coerce
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .optional()
  .describe(
    'a global position from a command response (`position`): the answer waits (at most a few seconds) until this view has applied it, so a client reads its own write',
  );

/** The note every read route of a view carries in its OpenAPI description. */
export const EVENTUALLY_CONSISTENT =
  'Served from a view fed by the event bus: eventually consistent, usually within milliseconds. Pass `after` with the `position` of your own command to wait for it.';

/** A view that can say how far it has applied a stream. */
export interface AppliedRevisions {
  /** the last revision of the stream the view has applied (-1: none yet), undefined for a stream it does not follow */
  appliedRevision(streamId: string): Promise<number | undefined>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `view` has applied the event at global position `after` (its
 * stream at that event's revision or later). Positions the store never
 * recorded (an aborted append leaves a gap) and streams the view does not
 * follow need no wait. Throws PositionNotReached after `timeoutMs`.
 */
export async function awaitOwnWrite(store: EventStore, view: AppliedRevisions, after: number | undefined, timeoutMs = 5_000): Promise<void> {
  if (after === undefined || after === 0) return;
  await pollUntil(after, timeoutMs, async () => {
    // readAll is gap-safe: once anything after `after` is visible, `after` itself is visible or never existed
    const [event] = await store.readAll({ after: after - 1, maxCount: 1 });
    if (!event) return false;
    if (event.globalPosition !== after) return true;
    const applied = await view.appliedRevision(event.subject);
    return applied === undefined || applied >= event.streamPosition;
  });
}

/**
 * Waits until the gap-safe log shows the event at global position `position`
 * (an append of this process): a transaction still running anywhere in the
 * cluster hides later commits from gap-safe reads for a moment. Throws
 * PositionNotReached after `timeoutMs`.
 */
export function awaitVisible(store: EventStore, position: number, timeoutMs = 10_000): Promise<void> {
  return pollUntil(position, timeoutMs, async () => (await store.headPosition()) >= position);
}

/** Asks `reached` with a growing pause (10 ms to 200 ms) until it says yes; PositionNotReached after `timeoutMs`. */
async function pollUntil(position: number, timeoutMs: number, reached: () => Promise<boolean>): Promise<void> {
  const started = Date.now();
  let pause = 10;
  while (!(await reached())) {
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new PositionNotReached(position, waited);
    await sleep(Math.min(pause, timeoutMs - waited));
    pause = Math.min(pause * 2, 200);
  }
}
