import type { EventContext, RawRecordedEvent } from '@onestop/events';
import type { EventStore } from '@onestop/eventstore';
import { handleCommand, type Clock, type Decider, type DomainEvent } from '@onestop/kit';
import { CLOCK_POLICIES, type ClockPolicy } from './domain/clock-policies.js';
import { deadlineWatchDecider, deadlinesStream } from './domain/deadline-watch.js';
import { DEADLINE_SOURCE_TYPES, dayOf, deriveDeadlines, statusOn, type CaseDeadlines, type Deadline, type DeadlineSourceEvent, type DeadlineStatus } from './domain/deadlines.js';

/** The component named as the actor of what the watcher records. */
export const DEADLINE_WATCHER = 'assessment-deadline-watcher';

/** The streams a person's deadlines are derived from (the casework streams of DESIGN §10). */
export const deadlineSourceStreams = (personId: string) => [`care-${personId}`, `plan-${personId}`, `meetings-${personId}`];
export const clockPolicyStream = (programme: string) => `clockpolicy-${programme}`;

// ── Publishing the policies ─────────────────────────────────────────────────
type PolicyEvent = DomainEvent<'ClockPolicyPublished'>;
/**
 * A programme's published versions (stream clockpolicy-<programme>): each
 * version once, in order. Publishing one already there is nothing; a
 * different text under a published number is refused by the data file's
 * review, not here, because the file is append-only by rule.
 */
const clockPolicyDecider: Decider<{ type: 'Publish'; policy: ClockPolicy }, PolicyEvent, { versions: number[] }> = {
  initialState: { versions: [] },
  evolve: (s, e) => ({ versions: [...s.versions, e.data.version] }),
  decide: (c, s) => (s.versions.includes(c.policy.version) ? [] : [{ type: 'ClockPolicyPublished', data: { ...c.policy, publishedBy: DEADLINE_WATCHER } }]),
};

/** Reads every ClockPolicyPublished of the store, up to an instant when given (an as-of replay). */
export async function knownPolicies(store: EventStore, asOf?: Date): Promise<ClockPolicy[]> {
  const events = await store.readAll({ types: ['ClockPolicyPublished'], streamPrefix: 'clockpolicy-' });
  return events.filter((e) => !asOf || Date.parse(e.time) <= asOf.getTime()).map((e) => e.data as ClockPolicy);
}

/** Merges a person's source events into recorded (global) order. */
export function inRecordedOrder(streams: readonly RawRecordedEvent[][]): DeadlineSourceEvent[] {
  const types = new Set<string>(DEADLINE_SOURCE_TYPES);
  return streams
    .flat()
    .filter((e) => types.has(e.type))
    .sort((a, b) => a.globalPosition - b.globalPosition)
    .map((e) => ({ type: e.type, time: e.time, data: e.data }) as DeadlineSourceEvent);
}

/** A person's deadlines now, or as they were known at `asOf` (only the events recorded by then). */
export async function deadlinesOf(store: EventStore, personId: string, policies: readonly ClockPolicy[], asOf?: Date): Promise<CaseDeadlines> {
  const streams = await Promise.all(deadlineSourceStreams(personId).map((s) => store.readStream(s)));
  const until = asOf?.getTime();
  return deriveDeadlines(inRecordedOrder(streams.map((s) => (until === undefined ? s : s.filter((e) => Date.parse(e.time) <= until)))), policies);
}

export interface DeadlineWatcherOptions {
  /** DeadlineApproaching this many days before a due date */
  approachingDays: number;
}

/**
 * The deadline watcher: on each pass, for every person whose case was ever
 * opened, derives their deadlines from the events and tells on
 * deadlines-<personId> what became approaching, missed or met. Any number of
 * watchers may run: the stream's expected revision is the only lock (DESIGN
 * §9), so each finding is recorded once. The work list (the people with a
 * case) is read from the log and kept in memory; it is only where to look,
 * never what to decide, so a restart that reads it again loses nothing.
 */
export class DeadlineWatcher {
  private position = 0;
  private readonly people = new Set<string>();

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly options: DeadlineWatcherOptions,
  ) {}

  private context(causationId: string): EventContext {
    return {
      source: '/onestop/assessment',
      actor: { id: DEADLINE_WATCHER, role: 'system' },
      correlationId: DEADLINE_WATCHER,
      causationId,
      time: this.clock.now().toISOString(),
    };
  }

  /** Publishes the data file's policy versions not yet on their streams. */
  async publishPolicies(policies: readonly ClockPolicy[] = CLOCK_POLICIES): Promise<number> {
    let published = 0;
    for (const policy of policies) {
      const r = await handleCommand(this.store, clockPolicyStream(policy.programme), clockPolicyDecider, { type: 'Publish', policy }, {
        partitionKey: policy.programme,
        ctx: this.context(`${policy.programme}@${policy.version}`),
      });
      published += r.events.length;
    }
    return published;
  }

  /** One pass: what every person's deadlines say now. Returns the number of events recorded. */
  async pass(): Promise<number> {
    const now = this.clock.now();
    for (const e of await this.store.readAll({ after: this.position, types: ['CaseOpened'], streamPrefix: 'care-' })) {
      this.people.add(e.partitionKey);
      this.position = e.globalPosition;
    }
    const policies = await knownPolicies(this.store);
    let recorded = 0;
    for (const personId of this.people) {
      const deadlines = await deadlinesOf(this.store, personId, policies);
      const r = await handleCommand(
        this.store,
        deadlinesStream(personId),
        deadlineWatchDecider,
        { type: 'Observe', now, approachingDays: this.options.approachingDays, deadlines },
        { partitionKey: personId, ctx: this.context(`deadlines-${now.toISOString()}`) },
      );
      recorded += r.events.length;
    }
    return recorded;
  }
}

/** One deadline as an auditor sees it on a date. */
export type DeadlineAsOf = Omit<Deadline, 'state' | 'scheduledFor'> & {
  /** where it stood that day, from the facts recorded by then */
  status: DeadlineStatus;
  /** what the watcher had recorded about it by then, with when */
  told: { approaching?: string; missed?: string; met?: string };
};

/**
 * The auditor's as-of replay of a person's deadlines: the deadlines known at
 * `at` (derived from the events and the policy versions recorded by then),
 * where each stood that day, and what the watcher had told by then.
 */
export async function deadlinesAsOf(
  store: EventStore,
  personId: string,
  at: Date,
  approachingDays: number,
): Promise<{ at: string; day: string; programme?: string; caseManager?: string; policies: Array<{ programme: string; version: number; validFrom: string }>; deadlines: DeadlineAsOf[] }> {
  const policies = await knownPolicies(store, at);
  const c = await deadlinesOf(store, personId, policies, at);
  const day = dayOf(at);
  const told = new Map<string, DeadlineAsOf['told']>();
  for (const e of await store.readStream(deadlinesStream(personId))) {
    if (Date.parse(e.time) > at.getTime()) break;
    const id = (e.data as { deadlineId: string }).deadlineId;
    const key = e.type === 'DeadlineApproaching' ? 'approaching' : e.type === 'DeadlineMissed' ? 'missed' : 'met';
    told.set(id, { ...told.get(id), [key]: e.time });
  }
  return {
    at: at.toISOString(),
    day,
    ...(c.programme ? { programme: c.programme } : {}),
    ...(c.caseManager ? { caseManager: c.caseManager } : {}),
    policies: policies.map((p) => ({ programme: p.programme, version: p.version, validFrom: p.validFrom })),
    deadlines: c.deadlines.map((full) => {
      // the state is the replay's own vocabulary; the auditor gets the day's status instead
      const { state: _state, scheduledFor: _scheduledFor, ...d } = full;
      return { ...d, status: statusOn(full, day, approachingDays), told: told.get(d.deadlineId) ?? {} };
    }),
  };
}
