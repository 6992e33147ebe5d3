import type { DeadlineKind } from '@onestop/events';
import { policyFor, type ClockPolicy } from './clock-policies.js';

// A person's statutory deadlines, derived from the events of their case
// (care-<personId>), plan (plan-<personId>) and meetings (meetings-<personId>)
// and the clock policies known. Pure: the watcher, the read models' work list
// and the auditor's as-of replay all call this one function, so they cannot
// disagree on what a deadline is.
//
// Rules:
// - CaseOpened (programme, activationDate): the programme's policy in force on
//   the activation date opens `first_meeting@<activationDate>`, due
//   withinDays after it (recommendedDays: the recommended date).
// - MeetingHeld of kind first_meeting with the person present meets it; a held
//   first meeting or review with the person present meets the open review
//   clock and opens the next one, `review@<meetingId>`, due everyDays after the
//   day it was held. A meeting without the person meets nothing.
// - PlanAgreed / PlanRevised set the plan's review date: `plan_review@v<n>`.
//   A revision for reason `review`, or a held review meeting, meets the open
//   plan review; any other revision supersedes it by the new version's date.
// - MeetingMissed, MeetingScheduled, MeetingRescheduled move no deadline (a
//   missed meeting does not stop the clock); the next scheduled meeting of
//   the deadline's kind is shown with it.
// - CaseClosed stops every open deadline. CaseReopened with a new activation
//   date opens a new first meeting clock; without one, the deadlines the
//   closure stopped run again from their own dates.
// Dates are calendar days in Europe/Rome: a deadline due on D is met by a
// meeting held on D, approaching from D − n, missed from D + 1.

export const DEADLINE_TIME_ZONE = 'Europe/Rome';

/** The events that move deadlines, as the catalog defines them (only the fields used). */
export type DeadlineSourceEvent = { time: string } & (
  | { type: 'CaseOpened'; data: { programme: string; activationDate: string; accessPoint: string } }
  | { type: 'CaseManagerAssigned'; data: { caseManager: { memberId: string } } }
  | { type: 'CaseTransferred'; data: { to: { memberId: string } } }
  | { type: 'CaseClosed'; data: object }
  | { type: 'CaseReopened'; data: { activationDate?: string | undefined } }
  | { type: 'PlanAgreed' | 'PlanRevised'; data: { version: number; reviewDate: string; reason?: string } }
  | { type: 'MeetingScheduled' | 'MeetingRescheduled'; data: { meetingId: string; kind?: string; at: string } }
  | { type: 'MeetingHeld'; data: { meetingId: string; kind: string; heldAt: string; personAttended: boolean } }
  | { type: 'MeetingMissed'; data: { meetingId: string } }
);
export const DEADLINE_SOURCE_TYPES = [
  'CaseOpened', 'CaseManagerAssigned', 'CaseTransferred', 'CaseClosed', 'CaseReopened',
  'PlanAgreed', 'PlanRevised', 'MeetingScheduled', 'MeetingRescheduled', 'MeetingHeld', 'MeetingMissed',
] as const;

export type DeadlineState = 'open' | 'met' | 'stopped' | 'superseded';

export interface Deadline {
  deadlineId: string;
  kind: DeadlineKind;
  programme: string;
  /** 0: the plan's own date, not a policy's */
  policyVersion: number;
  /** the date the clock runs from */
  anchorDate: string;
  dueDate: string;
  recommendedDate?: string;
  state: DeadlineState;
  /** when it was met (the meeting's time, or the review's recording) */
  metAt?: string;
  /** the next meeting of its kind scheduled, while open */
  scheduledFor?: string;
}

export interface CaseDeadlines {
  programme?: string;
  accessPoint?: string;
  activationDate?: string;
  caseManager?: string;
  open: boolean;
  deadlines: Deadline[];
}

const DAY_MS = 86_400_000;
const romeDate = new Intl.DateTimeFormat('en-CA', { timeZone: DEADLINE_TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' });

/** The calendar day (YYYY-MM-DD) of an instant in Europe/Rome. */
export const dayOf = (instant: Date | string): string => romeDate.format(typeof instant === 'string' ? new Date(instant) : instant);

/** `date` plus `days` calendar days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/**
 * Every deadline of one person's case, from their events in the order they
 * were recorded and the clock policies known.
 */
export function deriveDeadlines(events: readonly DeadlineSourceEvent[], policies: readonly ClockPolicy[]): CaseDeadlines {
  const out: CaseDeadlines = { open: false, deadlines: [] };
  const byId = new Map<string, Deadline>();
  const scheduled = new Map<string, { kind: string; at: string }>();
  let stoppedByClosure: Deadline[] = [];

  const add = (d: Deadline) => {
    if (byId.has(d.deadlineId)) return;
    byId.set(d.deadlineId, d);
    out.deadlines.push(d);
  };
  const openOf = (kind: DeadlineKind) => out.deadlines.filter((d) => d.kind === kind && d.state === 'open');
  const startFirstMeeting = (activationDate: string) => {
    const p = out.programme === undefined ? undefined : policyFor(policies, out.programme, activationDate);
    const fm = p?.rules.firstMeeting;
    if (!p || !fm) return;
    add({
      deadlineId: `first_meeting@${activationDate}`,
      kind: 'first_meeting',
      programme: p.programme,
      policyVersion: p.version,
      anchorDate: activationDate,
      dueDate: addDays(activationDate, fm.withinDays),
      ...(fm.recommendedDays ? { recommendedDate: addDays(activationDate, fm.recommendedDays) } : {}),
      state: 'open',
    });
  };

  for (const e of events) {
    switch (e.type) {
      case 'CaseOpened':
        out.programme = e.data.programme;
        out.accessPoint = e.data.accessPoint;
        out.activationDate = e.data.activationDate;
        out.open = true;
        startFirstMeeting(e.data.activationDate);
        break;
      case 'CaseManagerAssigned':
        out.caseManager = e.data.caseManager.memberId;
        break;
      case 'CaseTransferred':
        out.caseManager = e.data.to.memberId;
        break;
      case 'CaseClosed':
        out.open = false;
        stoppedByClosure = out.deadlines.filter((d) => d.state === 'open');
        for (const d of stoppedByClosure) d.state = 'stopped';
        break;
      case 'CaseReopened':
        out.open = true;
        if (e.data.activationDate) {
          out.activationDate = e.data.activationDate;
          startFirstMeeting(e.data.activationDate);
        } else for (const d of stoppedByClosure) d.state = 'open';
        stoppedByClosure = [];
        break;
      case 'PlanAgreed':
      case 'PlanRevised': {
        if (!out.open) break;
        for (const d of openOf('plan_review')) {
          if (e.type === 'PlanRevised' && e.data.reason === 'review') {
            d.state = 'met';
            d.metAt = e.time;
          } else d.state = 'superseded';
        }
        const p = out.programme === undefined ? undefined : policyFor(policies, out.programme, dayOf(e.time));
        if (p?.rules.planReview)
          add({
            deadlineId: `plan_review@v${e.data.version}`,
            kind: 'plan_review',
            programme: p.programme,
            policyVersion: 0,
            anchorDate: dayOf(e.time),
            dueDate: e.data.reviewDate,
            state: 'open',
          });
        break;
      }
      case 'MeetingScheduled':
        scheduled.set(e.data.meetingId, { kind: e.data.kind ?? 'other', at: e.data.at });
        break;
      case 'MeetingRescheduled': {
        const s = scheduled.get(e.data.meetingId);
        if (s) s.at = e.data.at;
        break;
      }
      case 'MeetingMissed':
        scheduled.delete(e.data.meetingId);
        break;
      case 'MeetingHeld': {
        scheduled.delete(e.data.meetingId);
        if (!out.open || !e.data.personAttended) break;
        const kind = e.data.kind;
        if (kind !== 'first_meeting' && kind !== 'review') break;
        const meet = (d: Deadline) => {
          d.state = 'met';
          d.metAt = e.data.heldAt;
        };
        if (kind === 'first_meeting') openOf('first_meeting').forEach(meet);
        openOf('review').forEach(meet);
        if (kind === 'review') openOf('plan_review').forEach(meet);
        const heldOn = dayOf(e.data.heldAt);
        const p = out.programme === undefined ? undefined : policyFor(policies, out.programme, heldOn);
        if (p?.rules.review)
          add({
            deadlineId: `review@${e.data.meetingId}`,
            kind: 'review',
            programme: p.programme,
            policyVersion: p.version,
            anchorDate: heldOn,
            dueDate: addDays(heldOn, p.rules.review.everyDays),
            state: 'open',
          });
        break;
      }
    }
  }
  // the next scheduled meeting of each open deadline's kind (a plan review is held as a review meeting)
  for (const d of out.deadlines) {
    if (d.state !== 'open') continue;
    const kind = d.kind === 'plan_review' ? 'review' : d.kind;
    const next = [...scheduled.values()].filter((s) => s.kind === kind).map((s) => s.at).sort()[0];
    if (next) d.scheduledFor = next;
  }
  return out;
}

export type DeadlineStatus = 'pending' | 'approaching' | 'missed' | 'met_on_time' | 'met_late' | 'stopped' | 'superseded';

/** Where a deadline stands on a day, `approachingDays` being the warning window. */
export function statusOn(d: Deadline, today: string, approachingDays: number): DeadlineStatus {
  if (d.state === 'met') return dayOf(d.metAt!) <= d.dueDate ? 'met_on_time' : 'met_late';
  if (d.state === 'stopped' || d.state === 'superseded') return d.state;
  if (today > d.dueDate) return 'missed';
  if (daysBetween(today, d.dueDate) <= approachingDays) return 'approaching';
  return 'pending';
}
