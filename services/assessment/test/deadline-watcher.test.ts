import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventData, type EventType } from '@onestop/events';
import { createPostgresEventStore, type SqlEventStore } from '@onestop/eventstore';
import { ManualClock } from '@onestop/kit';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { DEADLINE_WATCHER, DeadlineWatcher, deadlinesAsOf, deadlinesOf, knownPolicies } from '../src/deadline-watcher.js';

// The clock moved through three cases, with three watchers on one PostgreSQL
// database (each its own pool, as three processes would have): every deadline
// is approaching, missed and met exactly once, whatever the number of passes.

const clock = new ManualClock(new Date('2026-01-10T08:00:00.000Z'));
let db: TestDatabase;
let stores: SqlEventStore[] = [];
let watchers: DeadlineWatcher[] = [];
const late = randomUUID(); // first meeting never held in time, then held late
const onTime = randomUUID(); // first meeting held on 30 April
const closed = randomUUID(); // closed before any deadline

async function record<T extends EventType>(stream: string, personId: string, type: T, data: EventData<T>) {
  const ctx = { source: '/onestop/assessment', actor: { id: 'sw-1', role: 'team' as const }, correlationId: randomUUID(), time: clock.now().toISOString() };
  await stores[0]!.append(`${stream}-${personId}`, [createEvent(type, data, `${stream}-${personId}`, personId, ctx)], 'any');
}
const open = (personId: string) =>
  record('care', personId, 'CaseOpened', { personId, programme: 'adi', activationDate: '2026-01-10', accessPoint: 'pistoia-centro', openedBy: 'sw-1' }).then(() =>
    record('care', personId, 'CaseManagerAssigned', { caseManager: { memberId: 'sw-1', role: 'social_worker' }, assignedBy: 'sw-1' }),
  );
const holdFirstMeeting = (personId: string, heldAt: string) =>
  record('meetings', personId, 'MeetingHeld', {
    meetingId: randomUUID(),
    kind: 'first_meeting',
    heldAt,
    personAttended: true,
    attendees: [{ memberId: 'sw-1', role: 'social_worker' }],
    partnerIds: [],
    recordedBy: 'sw-1',
  });

/** Every watcher passes, all at once, twice: the findings must not depend on how many did. */
async function passes(): Promise<void> {
  for (let round = 0; round < 2; round++) await Promise.all(watchers.map((w) => w.pass()));
}
async function told(personId: string): Promise<Array<[string, string]>> {
  const events = await stores[0]!.readStream(`deadlines-${personId}`);
  return events.map((e) => [e.type, (e.data as { deadlineId: string }).deadlineId]);
}

beforeAll(async () => {
  db = await createTestDatabase('deadlines');
  stores = await Promise.all([0, 1, 2].map(() => createPostgresEventStore({ connectionString: db.url, maxConnections: 4 })));
  watchers = stores.map((s) => new DeadlineWatcher(s, clock, { approachingDays: 14 }));
}, 60_000);

afterAll(async () => {
  for (const s of stores) await s.close();
  await db?.drop();
});

describe('the deadline watcher, three of them on one database', () => {
  it('publishes each clock policy version once', async () => {
    const counts = await Promise.all(watchers.map((w) => w.publishPolicies()));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
    await Promise.all(watchers.map((w) => w.publishPolicies()));
    expect((await knownPolicies(stores[1]!)).map((p) => `${p.programme}@${p.version}`).sort()).toEqual(['adi@1', 'generic@1']);
  });

  it('moves the clock through the cases: each finding once', async () => {
    await Promise.all([open(late), open(onTime), open(closed)]);
    await passes();
    expect(await told(late)).toEqual([]);

    clock.set('2026-02-01T09:00:00.000Z');
    await record('care', closed, 'CaseClosed', { reason: 'moved_away', closedBy: 'sw-1' });

    // 14 days before 10 May (the 120th day): approaching, for the two open cases only
    clock.set('2026-04-26T07:00:00.000Z');
    await passes();
    expect(await told(late)).toEqual([['DeadlineApproaching', 'first_meeting@2026-01-10']]);
    expect(await told(onTime)).toEqual([['DeadlineApproaching', 'first_meeting@2026-01-10']]);
    expect(await told(closed)).toEqual([]);

    clock.set('2026-04-30T11:00:00.000Z');
    await holdFirstMeeting(onTime, '2026-04-30T09:00:00.000Z');
    await passes();
    expect(await told(onTime)).toEqual([
      ['DeadlineApproaching', 'first_meeting@2026-01-10'],
      ['DeadlineMet', 'first_meeting@2026-01-10'],
    ]);

    // the day after the due date (Rome time)
    clock.set('2026-05-10T22:30:00.000Z');
    await passes();
    expect(await told(late)).toEqual([
      ['DeadlineApproaching', 'first_meeting@2026-01-10'],
      ['DeadlineMissed', 'first_meeting@2026-01-10'],
    ]);

    clock.set('2026-05-19T12:00:00.000Z');
    await holdFirstMeeting(late, '2026-05-19T10:00:00.000Z');
    await passes();
    clock.advance(3 * 86_400_000);
    await passes();
    const lateEvents = await stores[2]!.readStream(`deadlines-${late}`);
    expect(lateEvents.map((e) => e.type)).toEqual(['DeadlineApproaching', 'DeadlineMissed', 'DeadlineMet']);
    expect(lateEvents[2]!.data).toMatchObject({ onTime: false, metAt: '2026-05-19T10:00:00.000Z', caseManager: 'sw-1', accessPoint: 'pistoia-centro', policyVersion: 1 });
    // automatic actions name the component that did them, and carry the clock's time
    expect(lateEvents.every((e) => e.actor.id === DEADLINE_WATCHER && e.actor.role === 'system')).toBe(true);
    expect(lateEvents[1]!.time).toBe('2026-05-10T22:30:00.000Z');

    // the reviews: 90 days after each held first meeting (30 April → 29 July; 19 May → 17 August)
    clock.set('2026-07-16T08:00:00.000Z');
    await passes();
    expect((await told(onTime)).at(-1)).toEqual(['DeadlineApproaching', expect.stringMatching(/^review@/)]);
    clock.set('2026-08-30T08:00:00.000Z');
    await passes();
    expect((await told(onTime)).map(([t]) => t)).toEqual(['DeadlineApproaching', 'DeadlineMet', 'DeadlineApproaching', 'DeadlineMissed']);
    expect((await told(late)).map(([t]) => t)).toEqual(['DeadlineApproaching', 'DeadlineMissed', 'DeadlineMet', 'DeadlineMissed']);
    expect(await told(closed)).toEqual([]);
  });

  it('answers what was known on a past date from the events recorded by then', async () => {
    const policies = await knownPolicies(stores[0]!, new Date('2026-05-01T00:00:00Z'));
    const then = await deadlinesOf(stores[0]!, late, policies, new Date('2026-05-01T00:00:00Z'));
    expect(then.deadlines.map((d) => [d.deadlineId, d.state])).toEqual([['first_meeting@2026-01-10', 'open']]);
    const now = await deadlinesOf(stores[0]!, late, policies);
    expect(now.deadlines.map((d) => d.state)).toEqual(['met', 'open']);
  });

  it("gives the auditor, for a date, each deadline's status that day and what the watcher had told by then", async () => {
    const on = async (at: string) => {
      const r = await deadlinesAsOf(stores[1]!, late, new Date(at), 14);
      return r.deadlines.map((d) => [d.deadlineId.replace(/@[0-9a-f-]{36}$/, '@m'), d.status, Object.keys(d.told)]);
    };
    expect(await on('2026-01-09T12:00:00Z')).toEqual([]); // before the case was opened
    expect(await on('2026-03-01T12:00:00Z')).toEqual([['first_meeting@2026-01-10', 'pending', []]]);
    expect(await on('2026-05-01T12:00:00Z')).toEqual([['first_meeting@2026-01-10', 'approaching', ['approaching']]]);
    expect(await on('2026-05-15T12:00:00Z')).toEqual([['first_meeting@2026-01-10', 'missed', ['approaching', 'missed']]]);
    expect(await on('2026-06-01T12:00:00Z')).toEqual([
      ['first_meeting@2026-01-10', 'met_late', ['approaching', 'missed', 'met']],
      ['review@m', 'pending', []],
    ]);
    const r = await deadlinesAsOf(stores[1]!, late, new Date('2026-06-01T12:00:00Z'), 14);
    expect(r).toMatchObject({ day: '2026-06-01', programme: 'adi', caseManager: 'sw-1', policies: [{ programme: 'adi', version: 1 }, { programme: 'generic', version: 1 }] });
    // the policies were published when the test began (the clock's 10 January): not known the day before
    expect((await deadlinesAsOf(stores[1]!, late, new Date('2026-01-09T12:00:00Z'), 14)).policies).toEqual([]);
  });
});
