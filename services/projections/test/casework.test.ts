import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDriver } from '@onestop/eventstore';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { ReadModels } from '../src/app.js';
import type { ProjectedEvent } from '../src/read-models/read-models.js';

// The taking-charge figures against values computed by hand for a small
// scripted network, and the same figures whatever the delivery: duplicates,
// whole prefixes again, streams interleaved in any order (DESIGN §9).
//
// Four ADI cases activated on 10 January 2026 (due 10 May, recommended 11 March):
// - P1 pistoia-centro, sw-1: first meeting 1 March (within 60 and 120); plan
//   review met on time; its review meeting due 30 May is approaching.
// - P2 pistoia-centro, sw-2: first meeting 20 April (within 120 only); plan
//   review missed, then held late.
// - P3 quarrata, sw-1 then transferred to sw-2: first meeting missed, never
//   held; its plan review due 27 May is approaching.
// - P4 quarrata, sw-1: closed; its plan review due 28 May was approaching.
// Waitlists: two referrals on hold for coop-casa/posti-letto, one of which was
// then accepted; one on hold for coop-lavoro/corso.
//
// By hand, for the week of Monday 25 May:
// - due this week: sw-1 → P1 review@m1 (30 May); sw-2 → P3 plan_review@v1 (27 May);
//   P4's is of a closed case, P2's review (19 July) is not this week;
// - first meetings: pistoia-centro 2 settled, 1 within 60 (0.5), 2 within 120 (1);
//   quarrata 1 settled, 0 and 0, 1 still missing;
// - plan reviews: 2 settled, 1 on time (0.5); review meetings: none settled;
// - waitlists: coop-casa/posti-letto 1, coop-lavoro/corso 1.

const P = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-0000000000a3', '00000000-0000-4000-8000-0000000000a4'] as const;
const R = ['00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-0000000000b2', '00000000-0000-4000-8000-0000000000b3'] as const;

function script(): ProjectedEvent[] {
  const positions = new Map<string, number>();
  const out: ProjectedEvent[] = [];
  const ev = (subject: string, type: string, time: string, data: Record<string, unknown>) => {
    const streamPosition = positions.get(subject) ?? 0;
    positions.set(subject, streamPosition + 1);
    out.push({ type, subject, streamPosition, time, partitionKey: subject.slice(subject.indexOf('-') + 1), data } as ProjectedEvent);
  };
  const cases: Array<[string, string, string]> = [
    [P[0], 'pistoia-centro', 'sw-1'],
    [P[1], 'pistoia-centro', 'sw-2'],
    [P[2], 'quarrata', 'sw-1'],
    [P[3], 'quarrata', 'sw-1'],
  ];
  for (const [personId, accessPoint, manager] of cases) {
    ev(`care-${personId}`, 'CaseOpened', '2026-01-10T09:00:00Z', { personId, programme: 'adi', activationDate: '2026-01-10', accessPoint, openedBy: manager });
    ev(`care-${personId}`, 'CaseManagerAssigned', '2026-01-10T09:01:00Z', { caseManager: { memberId: manager, role: 'social_worker' }, assignedBy: manager });
  }
  ev(`care-${P[2]}`, 'CaseTransferred', '2026-03-01T09:00:00Z', { from: 'sw-1', to: { memberId: 'sw-2', role: 'social_worker' }, reason: 'workload', transferredBy: 'sw-1' });
  ev(`care-${P[3]}`, 'CaseClosed', '2026-05-20T09:00:00Z', { reason: 'moved_away', closedBy: 'sw-1' });

  const fm = { deadlineId: 'first_meeting@2026-01-10', kind: 'first_meeting', programme: 'adi', policyVersion: 1, anchorDate: '2026-01-10', dueDate: '2026-05-10', recommendedDate: '2026-03-11' };
  const plan = (dueDate: string) => ({ deadlineId: 'plan_review@v1', kind: 'plan_review', programme: 'adi', policyVersion: 0, anchorDate: '2026-02-01', dueDate });
  const told = (personId: string, type: string, time: string, facts: Record<string, unknown>, more: Record<string, unknown> = {}) =>
    ev(`deadlines-${personId}`, type, time, { ...facts, caseManager: 'sw-1', accessPoint: cases.find((c) => c[0] === personId)![1], ...more });
  // P1
  told(P[0], 'DeadlineMet', '2026-03-02T01:00:00Z', fm, { metAt: '2026-03-01T10:00:00Z', onTime: true });
  told(P[0], 'DeadlineMet', '2026-04-30T01:00:00Z', plan('2026-05-01'), { metAt: '2026-04-29T10:00:00Z', onTime: true });
  told(P[0], 'DeadlineApproaching', '2026-05-16T01:00:00Z', { ...fm, deadlineId: 'review@m1', kind: 'review', anchorDate: '2026-03-01', dueDate: '2026-05-30', recommendedDate: undefined }, { daysLeft: 14 });
  // P2
  told(P[1], 'DeadlineApproaching', '2026-04-16T01:00:00Z', fm, { daysLeft: 14 });
  told(P[1], 'DeadlineMet', '2026-04-21T01:00:00Z', fm, { metAt: '2026-04-20T10:00:00Z', onTime: true });
  told(P[1], 'DeadlineMissed', '2026-05-02T01:00:00Z', plan('2026-05-01'));
  told(P[1], 'DeadlineMet', '2026-05-06T01:00:00Z', plan('2026-05-01'), { metAt: '2026-05-05T10:00:00Z', onTime: false });
  told(P[1], 'DeadlineApproaching', '2026-07-05T01:00:00Z', { ...fm, deadlineId: 'review@m2', kind: 'review', anchorDate: '2026-04-20', dueDate: '2026-07-19', recommendedDate: undefined }, { daysLeft: 14 });
  // P3
  told(P[2], 'DeadlineApproaching', '2026-04-26T01:00:00Z', fm, { daysLeft: 14 });
  told(P[2], 'DeadlineMissed', '2026-05-11T01:00:00Z', fm);
  told(P[2], 'DeadlineApproaching', '2026-05-13T01:00:00Z', plan('2026-05-27'), { daysLeft: 14 });
  // P4
  told(P[3], 'DeadlineApproaching', '2026-04-26T01:00:00Z', fm, { daysLeft: 14 });
  told(P[3], 'DeadlineApproaching', '2026-05-14T01:00:00Z', plan('2026-05-28'), { daysLeft: 14 });

  // referrals and their waitlists
  const referred = (referralId: string, partnerId: string, serviceId: string, personId: string) =>
    ev(`referral-${referralId}`, 'ReferredToPartner', '2026-04-01T09:00:00Z', {
      referralId, personId, assessmentId: personId, partnerId, serviceId, domain: 'housing', priority: 'routine', referredBy: 'sw-1', respondBy: '2026-04-06T09:00:00Z',
    });
  referred(R[0], 'coop-casa', 'posti-letto', P[0]);
  referred(R[1], 'coop-casa', 'posti-letto', P[1]);
  referred(R[2], 'coop-lavoro', 'corso', P[2]);
  ev(`referral-${R[0]}`, 'ReferralWaitlisted', '2026-04-02T09:00:00Z', { expectedDate: '2026-06-15' });
  ev(`referral-${R[1]}`, 'ReferralWaitlisted', '2026-04-02T10:00:00Z', { expectedDate: '2026-06-01' });
  ev(`referral-${R[1]}`, 'ReferralAccepted', '2026-05-02T10:00:00Z', { acceptedBy: 'coop-casa-op' });
  ev(`referral-${R[2]}`, 'ReferralWaitlisted', '2026-04-03T09:00:00Z', { expectedDate: '2026-09-01' });
  return out;
}

/** A seeded delivery that keeps each stream's order, interleaves streams, and delivers earlier events and a whole prefix again. */
function noisy(events: readonly ProjectedEvent[], seed: number): ProjectedEvent[][] {
  let s = seed;
  const random = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const queues = new Map<string, ProjectedEvent[]>();
  for (const e of events) queues.set(e.subject, [...(queues.get(e.subject) ?? []), e]);
  const order: ProjectedEvent[] = [];
  while (queues.size) {
    const keys = [...queues.keys()];
    const key = keys[Math.floor(random() * keys.length)]!;
    const q = queues.get(key)!;
    order.push(q.shift()!);
    if (q.length === 0) queues.delete(key);
  }
  const batches: ProjectedEvent[][] = [];
  for (let i = 0; i < order.length; ) {
    const n = 1 + Math.floor(random() * 5);
    batches.push(order.slice(i, i + n));
    // an earlier event again now and then
    if (random() < 0.3 && i > 0) batches.push([order[Math.floor(random() * i)]!]);
    i += n;
  }
  return [order.slice(0, Math.floor(order.length / 2)), ...batches];
}

const WEEK = { from: '2026-05-25', to: '2026-05-31' };
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('casework');
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('the casework dashboard', () => {
  it('gives the figures computed by hand', async () => {
    const rm = new ReadModels(new PgDriver(pool), 'casework_ordered');
    await rm.migrate();
    await rm.apply(script());
    const c = await rm.casework(WEEK);
    expect(c.deadlinesDue).toEqual([
      { caseManager: 'sw-1', deadlines: [{ personId: P[0], deadlineId: 'review@m1', kind: 'review', programme: 'adi', dueDate: '2026-05-30', accessPoint: 'pistoia-centro', missed: false }] },
      { caseManager: 'sw-2', deadlines: [{ personId: P[2], deadlineId: 'plan_review@v1', kind: 'plan_review', programme: 'adi', dueDate: '2026-05-27', accessPoint: 'quarrata', missed: false }] },
    ]);
    expect(c.firstMeetings).toEqual([
      { accessPoint: 'pistoia-centro', settled: 2, withinRecommended: 1, withinDue: 2, stillMissing: 0, shareWithinRecommended: 0.5, shareWithinDue: 1 },
      { accessPoint: 'quarrata', settled: 1, withinRecommended: 0, withinDue: 0, stillMissing: 1, shareWithinRecommended: 0, shareWithinDue: 0 },
    ]);
    expect(c.reviews).toEqual([{ kind: 'plan_review', settled: 2, onTime: 1, shareOnTime: 0.5 }]);
    expect(c.waitlists).toEqual([
      { partnerId: 'coop-casa', serviceId: 'posti-letto', waiting: 1, earliestExpected: '2026-06-15', waitingSince: '2026-04-02T09:00:00.000Z' },
      { partnerId: 'coop-lavoro', serviceId: 'corso', waiting: 1, earliestExpected: '2026-09-01', waitingSince: '2026-04-03T09:00:00.000Z' },
    ]);
    // in July only P2's review meeting, which is sw-2's case
    expect((await rm.casework({ from: '2026-07-13', to: '2026-07-19' })).deadlinesDue.map((m) => [m.caseManager, m.deadlines.map((d) => d.deadlineId)])).toEqual([['sw-2', ['review@m2']]]);
  });

  it.each([1, 2, 3, 4, 5])('gives the same figures whatever the delivery (seed %i)', async (seed) => {
    const reference = new ReadModels(new PgDriver(pool), 'casework_ordered');
    const rm = new ReadModels(new PgDriver(pool), `casework_noisy_${seed}`);
    await rm.migrate();
    for (const batch of noisy(script(), seed)) await rm.apply(batch);
    expect(await rm.casework(WEEK)).toEqual(await reference.casework(WEEK));
    const [a, b] = [await rm.dump(), await reference.dump()];
    expect({ cases: a.cases, deadlines: a.deadlines, referrals: a.referrals }).toEqual({ cases: b.cases, deadlines: b.deadlines, referrals: b.referrals });
  });
});
