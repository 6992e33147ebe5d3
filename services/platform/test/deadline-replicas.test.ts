import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@onestop/testkit';
import {
  commandWhenKnown,
  completedAssessment,
  holdsFor,
  notYetKnown,
  registeredPerson,
  roleTokens,
  startTopology,
  type RoleTokens,
  type Topology,
} from './topology.js';

// The deadline watcher across separate OS processes (issue 14: "each deadline
// approaching, missed and met exactly once, also with several replicas running
// the watcher"; docs/deadlines.md). Three assessment processes run the watcher
// on one PostgreSQL database (a pass every 300 ms each, all started together so
// that their first passes race); the only thing between them is the expected
// revision of `deadlines-<personId>` (DESIGN §9). Time moves by restarting the
// three with ONESTOP_CLOCK_OFFSET_MS (development and tests only): an ADI case
// activated 100 days ago has its first meeting due in 20 days (pending); 10
// days ahead it is approaching (ONESTOP_DEADLINE_APPROACHING_DAYS 14), 25 days
// ahead it is missed. The store must hold exactly one DeadlineApproaching and
// one DeadlineMissed for it, and keep holding one while the watchers keep passing.

const DAY_MS = 24 * 60 * 60 * 1000;
const INTERVAL_MS = '300';

let t: Topology;
let tk: RoleTokens;

beforeAll(async () => {
  t = await startTopology({
    label: 'deadlines',
    replicas: { intake: 1, assessment: 3, referral: 1, projections: 0 },
    env: { ONESTOP_DEADLINE_INTERVAL_MS: INTERVAL_MS, ONESTOP_DEADLINE_APPROACHING_DAYS: '14' },
    ownKafkaPort: process.env.ONESTOP_REPLICAS_KAFKA_PORT ?? '19792',
  });
  tk = await roleTokens(t);
}, 300_000);

afterAll(async () => {
  await t?.close();
}, 120_000);

/** A calendar day in Europe/Rome (the clocks' time zone), `days` from today by the system clock. */
const romeDay = (days: number) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Rome' }).format(
    new Date(Date.now() + days * DAY_MS),
  );

/** The watcher's findings on a person's deadlines stream, by type and deadline. */
const findings = async (personId: string) =>
  t.sql<{ type: string; deadline_id: string; n: string }>(
    `SELECT event_type AS type, data->>'deadlineId' AS deadline_id, count(*) AS n FROM eventstore.events WHERE stream_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
    [`deadlines-${personId}`],
  );

/** Every assessment process stopped, then all started together with the clock `offsetDays` ahead. */
async function assessmentAt(offsetDays: number) {
  const procs = t.of('assessment');
  await Promise.all(procs.map((p) => t.stop(p)));
  await Promise.all(
    procs.map((p) => t.restart(p, { ONESTOP_CLOCK_OFFSET_MS: String(offsetDays * DAY_MS) })),
  );
}

describe('the deadline watcher on 3 assessment processes', () => {
  it('records exactly one DeadlineApproaching and one DeadlineMissed for an ADI case’s first meeting', async () => {
    expect(t.of('assessment').map((p) => p.name)).toEqual([
      'assessment-1',
      'assessment-2',
      'assessment-3',
    ]);
    const personId = await registeredPerson(t, tk);
    await completedAssessment(t, tk, personId);
    const activationDate = romeDay(-100);
    const opened = await commandWhenKnown(
      t,
      'assessment',
      'POST',
      `/persons/${personId}/case`,
      tk.sw,
      {
        programme: 'adi',
        activationDate,
        accessPoint: 'pistoia-centro',
        caseManager: { memberId: 'sw-1', role: 'social_worker' },
      },
      notYetKnown,
    );
    expect(opened.status, JSON.stringify(opened.body)).toBeLessThan(300);
    const deadlineId = `first_meeting@${activationDate}`;

    // today: due in 20 days, nothing to say (the watchers have passed: the ADI policy is published, once)
    await eventually(
      async () => {
        const published = await t.sql<{ n: string }>(
          `SELECT count(*) AS n FROM eventstore.events WHERE stream_id = 'clockpolicy-adi' AND event_type = 'ClockPolicyPublished'`,
        );
        expect(Number(published[0]!.n)).toBe(1);
      },
      60_000,
      250,
    );
    await holdsFor(async () => expect(await findings(personId)).toEqual([]), 2_000, 300);

    // 10 days ahead: approaching, once
    await assessmentAt(10);
    await eventually(
      async () =>
        expect(await findings(personId)).toEqual([
          { type: 'DeadlineApproaching', deadline_id: deadlineId, n: '1' },
        ]),
      60_000,
      250,
    );
    await holdsFor(
      async () => {
        for (const p of t.of('assessment')) expect(t.alive(p), `${p.name} runs`).toBe(true);
        expect(await findings(personId)).toEqual([
          { type: 'DeadlineApproaching', deadline_id: deadlineId, n: '1' },
        ]);
      },
      5_000,
      300,
    );

    // 25 days ahead: missed (due + 5 days), once; the approaching stays one
    await assessmentAt(25);
    const both = [
      { type: 'DeadlineApproaching', deadline_id: deadlineId, n: '1' },
      { type: 'DeadlineMissed', deadline_id: deadlineId, n: '1' },
    ];
    await eventually(async () => expect(await findings(personId)).toEqual(both), 60_000, 250);
    await holdsFor(
      async () => {
        for (const p of t.of('assessment')) expect(t.alive(p), `${p.name} runs`).toBe(true);
        expect(await findings(personId)).toEqual(both);
      },
      5_000,
      300,
    );

    // recorded by the watcher at the time of the processes' clock (10 and 25 days ahead), with codes and dates only
    const told = await t.sql<{
      type: string;
      data: Record<string, unknown>;
      metadata: { time: string; actor: { id: string; role: string } };
    }>(
      `SELECT event_type AS type, data, metadata FROM eventstore.events WHERE stream_id = $1 ORDER BY stream_position`,
      [`deadlines-${personId}`],
    );
    expect(told.map((e) => e.type)).toEqual(['DeadlineApproaching', 'DeadlineMissed']);
    for (const [e, offsetDays] of [
      [told[0]!, 10],
      [told[1]!, 25],
    ] as const) {
      expect(e.data).toMatchObject({
        deadlineId,
        kind: 'first_meeting',
        programme: 'adi',
        anchorDate: activationDate,
        dueDate: new Date(Date.parse(`${activationDate}T00:00:00Z`) + 120 * DAY_MS)
          .toISOString()
          .slice(0, 10),
      });
      expect(e.metadata.actor).toMatchObject({ id: 'assessment-deadline-watcher', role: 'system' });
      const ahead = (Date.parse(e.metadata.time) - Date.now()) / DAY_MS;
      expect(ahead, `${e.type} recorded ${offsetDays} days ahead`).toBeGreaterThan(offsetDays - 1);
      expect(ahead).toBeLessThan(offsetDays + 1);
      expect(JSON.stringify(e.data)).not.toContain('Rosa');
    }
  }, 300_000);
});
