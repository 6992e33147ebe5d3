import type { DomainEvent } from '@onestop/kit';
import { dayOf, daysBetween, statusOn, type CaseDeadlines } from './deadlines.js';

// What the deadline watcher has told about one person's deadlines (stream
// deadlines-<personId>).
//
// Rules:
// - Each deadline is approaching at most once, missed at most once and met at
//   most once. The watcher appends at the revision it read, so two watchers
//   (or a retried pass) that find the same thing race on the stream and the
//   loser decides again on the winner's events, finding nothing left to say.
// - Approaching: from `approachingDays` before the due date, while open and
//   not yet missed (a deadline first seen when already late is only missed).
// - Missed: from the day after the due date, while open.
// - Met: once the deadline is met, on time or late (a late meeting follows the
//   DeadlineMissed already told).
// - Stopped (closed case) and superseded (new plan) deadlines get nothing more.

export type DeadlineWatchEvent = DomainEvent<'DeadlineApproaching' | 'DeadlineMissed' | 'DeadlineMet'>;

export interface DeadlineWatchState {
  told: Record<string, { approaching?: true; missed?: true; met?: true }>;
}

export interface Observe {
  type: 'Observe';
  now: Date;
  approachingDays: number;
  /** the person's deadlines derived from their events (deriveDeadlines) */
  deadlines: CaseDeadlines;
}
export type DeadlineWatchCommand = Observe;

function observe(c: Observe, s: DeadlineWatchState): DeadlineWatchEvent[] {
  const today = dayOf(c.now);
  const out: DeadlineWatchEvent[] = [];
  for (const d of c.deadlines.deadlines) {
    const told = s.told[d.deadlineId] ?? {};
    const facts = {
      deadlineId: d.deadlineId,
      kind: d.kind,
      programme: d.programme,
      policyVersion: d.policyVersion,
      anchorDate: d.anchorDate,
      dueDate: d.dueDate,
      ...(d.recommendedDate ? { recommendedDate: d.recommendedDate } : {}),
      ...(c.deadlines.caseManager ? { caseManager: c.deadlines.caseManager } : {}),
      ...(c.deadlines.accessPoint ? { accessPoint: c.deadlines.accessPoint } : {}),
    };
    const status = statusOn(d, today, c.approachingDays);
    if (status === 'met_on_time' || status === 'met_late') {
      if (!told.met) out.push({ type: 'DeadlineMet', data: { ...facts, metAt: new Date(d.metAt!).toISOString(), onTime: status === 'met_on_time' } });
    } else if (status === 'missed') {
      if (!told.missed) out.push({ type: 'DeadlineMissed', data: facts });
    } else if (status === 'approaching') {
      if (!told.approaching && !told.missed)
        out.push({ type: 'DeadlineApproaching', data: { ...facts, daysLeft: Math.max(0, daysBetween(today, d.dueDate)) } });
    }
  }
  return out;
}

export const deadlineWatchDecider = {
  initialState: { told: {} } as DeadlineWatchState,
  evolve(s: DeadlineWatchState, e: DeadlineWatchEvent): DeadlineWatchState {
    const id = e.data.deadlineId;
    const prev = s.told[id] ?? {};
    const flag = e.type === 'DeadlineApproaching' ? 'approaching' : e.type === 'DeadlineMissed' ? 'missed' : 'met';
    return { told: { ...s.told, [id]: { ...prev, [flag]: true } } };
  },
  decide(c: DeadlineWatchCommand, s: DeadlineWatchState): DeadlineWatchEvent[] {
    switch (c.type) {
      case 'Observe':
        return observe(c, s);
      default: {
        const never: never = c.type;
        throw new Error(`unknown command ${String(never)}`);
      }
    }
  },
};

export const deadlinesStream = (personId: string) => `deadlines-${personId}`;
