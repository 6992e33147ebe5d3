import {
  ConcurrencyRetriesExhausted,
  createEvent,
  liftRecorded,
  OneStopError,
  RequestAlreadyRecorded,
  WrongExpectedVersion,
  type EventContext,
  type EventData,
  type EventType,
  type OneStopEvent,
  type RawEnvelope,
  type RecordedEvent,
} from '@onestop/events';
import type { EventStore, ExpectedRevision, StreamAppend } from '@onestop/eventstore';
import { SpanKind, type Span } from '@opentelemetry/api';
import { contextOfTraceparent, endSpan, traceparentOf } from '@onestop/bus';
import { commandEventIds } from './request-scope.js';
import { kitTracer } from './tracing.js';

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
 * One stream taking part in a command: the state it was read at, and the
 * events decided for it so far (appended together with the other streams'
 * when the command's work is done).
 */
export class StreamPart<C, E extends DomainEvent, S> {
  private readonly decided: E[] = [];
  private current: S;

  constructor(
    readonly streamId: string,
    private readonly decider: Decider<C, E, S>,
    /** the state read from the store, before this command */
    readonly initial: S,
    /** the revision read (-1: no stream), the expected revision of the append */
    readonly revision: number,
    private readonly partitionKey: string | ((state: S) => string),
  ) {
    this.current = initial;
  }

  /** the state with what was decided so far */
  get state(): S {
    return this.current;
  }

  get events(): readonly E[] {
    return this.decided;
  }

  /** Decides a command on the current state and keeps its events for the append. */
  decide(command: C): E[] {
    const events = this.decider.decide(command, this.current);
    this.current = events.reduce((s, e) => this.decider.evolve(s, e), this.current);
    this.decided.push(...events);
    return events;
  }

  /** @internal the envelopes to append, with the partition key of the final state */
  envelopes(ctx: EventContext, id?: (streamId: string, index: number) => string): Array<OneStopEvent & E> {
    const key = typeof this.partitionKey === 'function' ? this.partitionKey(this.current) : this.partitionKey;
    return this.decided.map((e, i) => createEvent(e.type, e.data as never, this.streamId, key, ctx, id?.(this.streamId, i)) as OneStopEvent & E);
  }
}

/** What a command's work reads: streams, folded by their deciders. */
export interface UnitOfWork {
  /**
   * Reads a stream and folds it. `newStream`: the stream id was made for this
   * command (a fresh UUID), so its history is empty by construction and the
   * first attempt does not read it; were it there after all, the append
   * fails and the retry reads it like any other.
   */
  load<C, E extends DomainEvent, S>(
    streamId: string,
    decider: Decider<C, E, S>,
    options: { partitionKey: string | ((state: S) => string); newStream?: boolean },
  ): Promise<StreamPart<C, E, S>>;
}

/** What one stream got from a command. */
export interface Appended {
  streamId: string;
  events: OneStopEvent[];
  /** the stream's revision after the append */
  revision: number;
  globalPositions: number[];
}

export interface TransactOptions {
  /**
   * makes the ids of each attempt's events: `() => (streamId, index) => id`;
   * by default derived from the request's Idempotency-Key when it has one
   * (request-scope.ts), random otherwise
   */
  eventId?: () => (streamId: string, index: number) => string;
  /** attempts before ConcurrencyRetriesExhausted (default 40: enough for a crowd racing for a service's last places) */
  maxAttempts?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The span of one append attempt: stream categories and counts only (a stream id may name a person). */
function appendSpan(ctx: EventContext, streamIds: readonly string[], attempt: number): Span {
  return kitTracer().startSpan(
    `append ${[...new Set(streamIds.map((s) => s.slice(0, s.indexOf('-'))))].join(',')}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.operation.name': 'append', 'onestop.service': ctx.source.replace('/onestop/', ''), 'onestop.streams': streamIds.length, 'onestop.attempt': attempt },
    },
    contextOfTraceparent(ctx.traceparent),
  );
}

/** Numbers a command's events across its streams, in append order, with the request's derived ids. */
function eventIdsFrom(scoped: NonNullable<ReturnType<typeof commandEventIds>>): () => (streamId: string, index: number) => string {
  return () => {
    let k = 0;
    return () => scoped.at(k++);
  };
}

/**
 * Runs a command across the streams it reads (DESIGN §9): `work` loads the
 * streams, decides on each, and every decided event is appended in one atomic
 * append, each stream at the revision it was read at. When another writer
 * changed one of them meanwhile, the whole work runs again on fresh state —
 * the expected revisions are the only lock. `work` must do nothing but read
 * and decide (it may run several times).
 */
export async function transact<R>(
  store: EventStore,
  ctx: EventContext,
  work: (uow: UnitOfWork) => Promise<R>,
  options: TransactOptions = {},
): Promise<{ result: R; appended: Appended[] }> {
  const maxAttempts = options.maxAttempts ?? 40;
  // under an Idempotency-Key: the ids of this command's events, the same in every retry of the request
  const scoped = options.eventId ? undefined : commandEventIds();
  const eventId = options.eventId ?? (scoped ? eventIdsFrom(scoped) : undefined);
  for (let attempt = 0; ; attempt++) {
    const parts: Array<StreamPart<unknown, DomainEvent, unknown>> = [];
    /** streams that already hold this request's own events (a retry of a recorded request) */
    const recorded: string[] = [];
    const uow: UnitOfWork = {
      async load(streamId, decider, o) {
        if (parts.some((p) => p.streamId === streamId)) throw new Error(`stream ${streamId} loaded twice in one command`);
        // (under an Idempotency-Key a new stream is read all the same: a retry finds its own events there)
        let history = attempt === 0 && o.newStream && !scoped ? [] : (await store.readStream(streamId)).map(liftRecorded);
        // a retry of a request whose command was recorded already decides on the state before
        // its own events: the same decision, the same ids, and the store hands back the first result
        const own = scoped ? history.findIndex((e) => scoped.mine(e.id)) : -1;
        if (own >= 0) {
          history = history.slice(0, own);
          recorded.push(streamId);
        }
        const part = new StreamPart(streamId, decider, fold(decider, history as never), history.length - 1, o.partitionKey);
        parts.push(part as never);
        return part;
      },
    };
    let result: R;
    try {
      result = await work(uow);
    } catch (e) {
      // a recorded request that today's state of the streams it did not write, or of a view,
      // would refuse: what it recorded stands; the answer says so instead of refusing
      if (recorded.length > 0 && e instanceof OneStopError && e.status < 500) throw new RequestAlreadyRecorded(recorded);
      throw e;
    }
    const writing = parts.filter((p) => p.events.length > 0);
    if (writing.length === 0) return { result, appended: [] };
    const ids = eventId?.();
    // the append's span (child of the request's) is the trace the events carry on to the bus
    const span = appendSpan(ctx, writing.map((p) => p.streamId), attempt);
    const traceparent = traceparentOf(span);
    const stamped = traceparent ? { ...ctx, traceparent } : ctx;
    const appends: StreamAppend[] = writing.map((p) => ({
      streamId: p.streamId,
      events: p.envelopes(stamped, ids) as unknown as RawEnvelope[],
      expected: (p.revision < 0 ? 'no_stream' : p.revision) satisfies ExpectedRevision,
    }));
    try {
      const results = appends.length === 1 ? [await store.append(appends[0]!.streamId, appends[0]!.events, appends[0]!.expected)] : await store.appendToStreams(appends);
      scoped?.commit(appends.reduce((n, a) => n + a.events.length, 0));
      const appended = await Promise.all(
        appends.map(async (a, i) => {
          const r = results[i]!;
          // a replayed append: the events are the ones stored the first time (their times, their data)
          const events = r.replayed
            ? (await store.readStream(a.streamId, { fromRevision: r.nextExpectedRevision - a.events.length + 1, maxCount: a.events.length })).map(liftRecorded)
            : (a.events as OneStopEvent[]);
          return { streamId: a.streamId, events, revision: r.nextExpectedRevision, globalPositions: r.globalPositions };
        }),
      );
      span.setAttribute('onestop.global_position', Math.max(...results.flatMap((r) => r.globalPositions)));
      endSpan(span);
      return { result, appended };
    } catch (e) {
      endSpan(span, e);
      if (!(e instanceof WrongExpectedVersion)) throw e;
      if (attempt + 1 >= maxAttempts) throw new ConcurrencyRetriesExhausted(e.streamId, attempt + 1);
      // a crowd on one stream: spread the retries so that each round has a winner and few losers
      await sleep(Math.random() * Math.min(100, 2 * 2 ** attempt));
    }
  }
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
    /** the stream id was made for this command: see UnitOfWork.load */
    newStream?: boolean;
  },
): Promise<CommandResult<E> & { state: S }> {
  const { result: part, appended } = await transact(
    store,
    envelope.ctx,
    async (uow) => {
      const p = await uow.load(streamId, decider, { partitionKey: envelope.partitionKey, newStream: envelope.newStream ?? false });
      p.decide(command);
      return p;
    },
    { maxAttempts: 6, ...(envelope.ids ? { eventId: () => (_s: string, i: number) => envelope.ids![i]! } : {}) },
  );
  const a = appended[0];
  return {
    events: (a?.events ?? []) as Array<OneStopEvent & E>,
    revision: a ? a.revision : part.revision,
    globalPositions: a?.globalPositions ?? [],
    state: part.state,
  };
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
