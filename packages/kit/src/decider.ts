import { createEvent, liftRecorded, WrongExpectedVersion, type EventContext, type EventData, type EventType, type OneStopEvent, type RawEnvelope, type RecordedEvent } from '@onestop/events';
import type { EventStore, ExpectedRevision } from '@onestop/eventstore';

/** A domain event as deciders see it: type and payload, no envelope. */
export type DomainEvent<T extends EventType = EventType> = T extends EventType ? { type: T; data: EventData<T> } : never;

/**
 * Business logic as pure functions (STYLE.md): no I/O, no clock (time comes in
 * the command), a rule violation throws a named domain error.
 */
export interface Decider<Command, Event extends DomainEvent, State> {
  initialState: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
}

/** Folds events into a state with a decider's evolve. */
export function fold<E extends DomainEvent, S>(decider: Pick<Decider<unknown, E, S>, 'initialState' | 'evolve'>, events: readonly E[]): S {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
}

export interface CommandResult<E extends DomainEvent> {
  events: Array<OneStopEvent & E>;
  revision: number;
  globalPositions: number[];
}

/**
 * Runs a command against one stream: read, fold, decide, append at the read
 * revision; on a concurrent change, decide again on the new state.
 */
export async function handleCommand<C, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  command: C,
  envelope: {
    partitionKey: string | ((state: S) => string);
    ctx: EventContext;
    ids?: string[];
    /**
     * The stream id was made for this command (a fresh UUID): its history is
     * empty by construction, so the first attempt does not read it and appends
     * expecting no stream. Were the stream there after all, that append fails
     * and the retry reads it like any other.
     */
    newStream?: boolean;
  },
): Promise<CommandResult<E> & { state: S }> {
  for (let attempt = 0; ; attempt++) {
    const history = attempt === 0 && envelope.newStream ? [] : (await store.readStream(streamId)).map(liftRecorded);
    const state = fold(decider, history as unknown as E[]);
    const decided = decider.decide(command, state);
    const key = typeof envelope.partitionKey === 'function' ? envelope.partitionKey(state) : envelope.partitionKey;
    const events = decided.map(
      (e, i) => createEvent(e.type, e.data as never, streamId, key, envelope.ctx, envelope.ids?.[i]) as OneStopEvent & E,
    );
    const newState = decided.reduce((s, e) => decider.evolve(s, e), state);
    if (events.length === 0) return { events: [], revision: history.length - 1, globalPositions: [], state: newState };
    const expected: ExpectedRevision = history.length === 0 ? 'no_stream' : history.length - 1;
    try {
      const r = await store.append(streamId, events as unknown as RawEnvelope[], expected);
      return { events, revision: r.nextExpectedRevision, globalPositions: r.globalPositions, state: newState };
    } catch (e) {
      if (e instanceof WrongExpectedVersion && attempt < 5) continue;
      throw e;
    }
  }
}

/** Reads a stream and folds it. */
export async function loadAggregate<E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Pick<Decider<unknown, E, S>, 'initialState' | 'evolve'>,
): Promise<{ state: S; revision: number; events: RecordedEvent[] }> {
  const events = (await store.readStream(streamId)).map(liftRecorded);
  return { state: fold(decider, events as unknown as E[]), revision: events.length - 1, events };
}
