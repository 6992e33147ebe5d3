import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@onestop/testkit';
import { CLOCK_POLICIES, policyFor, type ClockPolicy } from '../src/domain/clock-policies.js';
import { addDays, dayOf, deriveDeadlines, statusOn, type DeadlineSourceEvent } from '../src/domain/deadlines.js';
import { deadlineWatchDecider, type DeadlineWatchEvent } from '../src/domain/deadline-watch.js';

// Given a case's events, then its deadlines; given what the watcher told, when
// it observes on a day, then what it tells.

const at = (day: string, hour = 10) => `${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;
const opened = (activationDate: string, programme = 'adi'): DeadlineSourceEvent => ({
  type: 'CaseOpened',
  time: at(activationDate),
  data: { programme, activationDate, accessPoint: 'pistoia-centro' },
});
const held = (meetingId: string, kind: string, day: string, personAttended = true): DeadlineSourceEvent => ({
  type: 'MeetingHeld',
  time: at(day, 12),
  data: { meetingId, kind, heldAt: at(day), personAttended },
});
const manager = (memberId: string): DeadlineSourceEvent => ({ type: 'CaseManagerAssigned', time: at('2026-01-10'), data: { caseManager: { memberId } } });
const closed = (day: string): DeadlineSourceEvent => ({ type: 'CaseClosed', time: at(day), data: {} });
const derive = (events: DeadlineSourceEvent[], policies: readonly ClockPolicy[] = CLOCK_POLICIES) => deriveDeadlines(events, policies);

describe('clock policies', () => {
  it('ADI: first meeting within 120 days, 60 recommended, a review every 90 days', () => {
    const adi = policyFor(CLOCK_POLICIES, 'adi', '2026-01-10');
    expect(adi?.rules).toEqual({ firstMeeting: { withinDays: 120, recommendedDays: 60 }, review: { everyDays: 90 }, planReview: true });
  });
  it('a version applies from its validFrom; the highest valid version wins', () => {
    const v2: ClockPolicy = { ...CLOCK_POLICIES[0]!, version: 2, validFrom: '2027-01-01', rules: { firstMeeting: { withinDays: 90 }, planReview: true } };
    expect(policyFor([...CLOCK_POLICIES, v2], 'adi', '2026-12-31')?.version).toBe(1);
    expect(policyFor([...CLOCK_POLICIES, v2], 'adi', '2027-01-01')?.version).toBe(2);
    expect(policyFor(CLOCK_POLICIES, 'adi', '2023-12-31')).toBeUndefined();
    expect(policyFor(CLOCK_POLICIES, 'unknown', '2026-01-01')).toBeUndefined();
  });
});

describe('deriveDeadlines', () => {
  it('given an ADI case opened on 10 January: the first meeting is due 10 May, recommended by 11 March', () => {
    const c = derive([opened('2026-01-10'), manager('sw-1')]);
    expect(c.caseManager).toBe('sw-1');
    expect(c.deadlines).toEqual([
      {
        deadlineId: 'first_meeting@2026-01-10',
        kind: 'first_meeting',
        programme: 'adi',
        policyVersion: 1,
        anchorDate: '2026-01-10',
        dueDate: '2026-05-10',
        recommendedDate: '2026-03-11',
        state: 'open',
      },
    ]);
  });

  it('given a generic case: no first meeting clock', () => {
    expect(derive([opened('2026-01-10', 'generic')]).deadlines).toEqual([]);
  });

  it('when the first meeting is held with the person: met, and the review clock runs 90 days from that day', () => {
    const c = derive([opened('2026-01-10'), held('m1', 'first_meeting', '2026-02-20')]);
    expect(c.deadlines.map((d) => [d.deadlineId, d.state, d.dueDate, d.metAt])).toEqual([
      ['first_meeting@2026-01-10', 'met', '2026-05-10', at('2026-02-20')],
      ['review@m1', 'open', '2026-05-21', undefined],
    ]);
  });

  it('a meeting without the person, or a missed one, meets nothing', () => {
    const c = derive([
      opened('2026-01-10'),
      { type: 'MeetingScheduled', time: at('2026-01-11'), data: { meetingId: 'm1', kind: 'first_meeting', at: at('2026-02-01') } },
      { type: 'MeetingMissed', time: at('2026-02-01'), data: { meetingId: 'm1' } },
      held('m2', 'first_meeting', '2026-02-03', false),
      { type: 'MeetingScheduled', time: at('2026-02-03'), data: { meetingId: 'm3', kind: 'first_meeting', at: at('2026-02-10') } },
      { type: 'MeetingRescheduled', time: at('2026-02-04'), data: { meetingId: 'm3', at: at('2026-02-12') } },
    ]);
    expect(c.deadlines).toHaveLength(1);
    expect(c.deadlines[0]).toMatchObject({ state: 'open', scheduledFor: at('2026-02-12') });
  });

  it('a held review meets the review clock and the plan review, and starts the next review', () => {
    const c = derive([
      opened('2026-01-10'),
      held('m1', 'first_meeting', '2026-02-20'),
      { type: 'PlanAgreed', time: at('2026-02-25'), data: { version: 1, reviewDate: '2026-05-15' } },
      held('m2', 'review', '2026-05-14'),
    ]);
    expect(c.deadlines.map((d) => [d.deadlineId, d.state, d.dueDate])).toEqual([
      ['first_meeting@2026-01-10', 'met', '2026-05-10'],
      ['review@m1', 'met', '2026-05-21'],
      ['plan_review@v1', 'met', '2026-05-15'],
      ['review@m2', 'open', '2026-08-12'],
    ]);
  });

  it('a plan revision for review meets the plan review; another revision supersedes it', () => {
    const plan = (version: number, reviewDate: string, day: string, reason?: string): DeadlineSourceEvent => ({
      type: version === 1 ? 'PlanAgreed' : 'PlanRevised',
      time: at(day),
      data: { version, reviewDate, ...(reason ? { reason } : {}) },
    });
    const c = derive([opened('2026-01-10', 'generic'), plan(1, '2026-04-01', '2026-01-20'), plan(2, '2026-06-01', '2026-02-01', 'new_needs'), plan(3, '2026-09-01', '2026-05-30', 'review')]);
    expect(c.deadlines.map((d) => [d.deadlineId, d.state, d.policyVersion])).toEqual([
      ['plan_review@v1', 'superseded', 0],
      ['plan_review@v2', 'met', 0],
      ['plan_review@v3', 'open', 0],
    ]);
  });

  it('closure stops the clocks; a reopening without a new pact runs them again, with one a new first meeting clock', () => {
    const base = [opened('2026-01-10'), closed('2026-02-01')];
    expect(derive(base).deadlines.map((d) => d.state)).toEqual(['stopped']);
    expect(derive([...base, { type: 'CaseReopened', time: at('2026-02-10'), data: {} }]).deadlines.map((d) => d.state)).toEqual(['open']);
    const renewed = derive([...base, { type: 'CaseReopened', time: at('2026-03-01'), data: { activationDate: '2026-03-01' } }]);
    expect(renewed.deadlines.map((d) => [d.deadlineId, d.state, d.dueDate])).toEqual([
      ['first_meeting@2026-01-10', 'stopped', '2026-05-10'],
      ['first_meeting@2026-03-01', 'open', '2026-06-29'],
    ]);
  });

  it('a held meeting after closure meets nothing', () => {
    const c = derive([opened('2026-01-10'), closed('2026-02-01'), held('m1', 'first_meeting', '2026-02-05')]);
    expect(c.deadlines.map((d) => d.state)).toEqual(['stopped']);
  });

  it('days are Rome days: a meeting at 23:30 UTC on the due date is held the next day in Pistoia', () => {
    expect(dayOf('2026-05-10T21:30:00Z')).toBe('2026-05-10');
    expect(dayOf('2026-05-10T22:30:00Z')).toBe('2026-05-11');
    expect(addDays('2026-01-10', 120)).toBe('2026-05-10');
  });
});

describe('statusOn', () => {
  const d = derive([opened('2026-01-10')]).deadlines[0]!;
  it.each([
    ['2026-04-25', 'pending'],
    ['2026-04-26', 'approaching'],
    ['2026-05-10', 'approaching'],
    ['2026-05-11', 'missed'],
  ])('on %s the first meeting due 10 May (14 days warning) is %s', (day, status) => {
    expect(statusOn(d, day, 14)).toBe(status);
  });
  it('met on the due date is on time; the day after is late', () => {
    expect(statusOn({ ...d, state: 'met', metAt: '2026-05-10T15:00:00Z' }, '2026-06-01', 14)).toBe('met_on_time');
    expect(statusOn({ ...d, state: 'met', metAt: '2026-05-11T08:00:00Z' }, '2026-06-01', 14)).toBe('met_late');
  });
});

describe('the deadline watcher (deadlines-<personId>)', () => {
  const spec = deciderSpec(deadlineWatchDecider);
  const facts = { deadlineId: 'first_meeting@2026-01-10', kind: 'first_meeting', programme: 'adi', policyVersion: 1, anchorDate: '2026-01-10', dueDate: '2026-05-10', recommendedDate: '2026-03-11', caseManager: 'sw-1', accessPoint: 'pistoia-centro' } as const;
  const open = derive([opened('2026-01-10'), manager('sw-1')]);
  const met = (day: string) => derive([opened('2026-01-10'), manager('sw-1'), held('m1', 'first_meeting', day)]);
  const observe = (day: string, deadlines = open) => ({ type: 'Observe' as const, now: new Date(at(day)), approachingDays: 14, deadlines });
  const approaching: DeadlineWatchEvent = { type: 'DeadlineApproaching', data: { ...facts, daysLeft: 14 } };
  const missed: DeadlineWatchEvent = { type: 'DeadlineMissed', data: facts };

  describe('When nothing was told', () => {
    it('before the window: nothing', () => spec.given([]).when(observe('2026-04-25')).thenNothing());
    it('in the window: approaching, with the days left', () => spec.given([]).when(observe('2026-04-26')).then([approaching]));
    it('after the due date: missed only', () => spec.given([]).when(observe('2026-05-11')).then([missed]));
    it('met on time: met', () =>
      spec.given([]).when(observe('2026-05-20', met('2026-03-01'))).then([
        { type: 'DeadlineMet', data: { ...facts, onTime: true, metAt: at('2026-03-01') } },
        { type: 'DeadlineApproaching', data: { ...facts, deadlineId: 'review@m1', kind: 'review', anchorDate: '2026-03-01', dueDate: '2026-05-30', recommendedDate: undefined, daysLeft: 10 } },
      ]));
  });
  describe('When approaching was told', () => {
    it('approaching again: nothing', () => spec.given([approaching]).when(observe('2026-05-01')).thenNothing());
    it('the day after the due date: missed', () => spec.given([approaching]).when(observe('2026-05-11')).then([missed]));
  });
  describe('When missed was told', () => {
    it('missed again: nothing', () => spec.given([approaching, missed]).when(observe('2026-06-01')).thenNothing());
    it('then held late: met, not on time', () =>
      spec.given([approaching, missed]).when(observe('2026-06-01', met('2026-05-20'))).then([{ type: 'DeadlineMet', data: { ...facts, onTime: false, metAt: at('2026-05-20') } }]));
  });
  describe('When the case is closed', () => {
    it('nothing more', () => spec.given([approaching]).when(observe('2026-06-01', derive([opened('2026-01-10'), closed('2026-05-01')]))).thenNothing());
  });
});
