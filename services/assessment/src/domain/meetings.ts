import { ConflictError, DoneOtherwise, NotFoundError, RuleViolation, type Encrypted, type EventData } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import { CaseNotOpen, type CareState } from './care.js';

// A person's meetings with the team: stream meetings-<personId>, partition key
// the personId (docs/casework.md).
// - A meeting is scheduled on an open case: a kind (`first_meeting`,
//   `review`, `other`), an instant, a modality, and an optional place code (an
//   office, never an address). At most one first meeting waits at a time.
// - A scheduled meeting is rescheduled (a coded reason), held, or missed.
//   Held and missed are final: after a miss, a new meeting is scheduled.
// - Held: when it took place (not after now), who attended, whether the person
//   attended, minutes encrypted with the person's key.
// - Missed: justified or not, a coded reason, an optional encrypted note; not
//   before the meeting's time.
// - Every command needs the case open (read from care-<personId> in the same
//   unit of work).
// - The same command again is a repeat; a held or missed meeting recorded
//   again with other facts is refused (done_otherwise).

export type MeetingEvent = DomainEvent<'MeetingScheduled' | 'MeetingRescheduled' | 'MeetingHeld' | 'MeetingMissed'>;
type Kind = EventData<'MeetingScheduled'>['kind'];
type Modality = EventData<'MeetingScheduled'>['modality'];

export interface Meeting {
  kind: Kind;
  at: string;
  modality: Modality;
  place: string | null;
  status: 'scheduled' | 'held' | 'missed';
  heldAt: string | null;
  personAttended: boolean | null;
  justified: boolean | null;
  missedReason: EventData<'MeetingMissed'>['reason'] | null;
}

export interface MeetingsState {
  meetings: Record<string, Meeting>;
}

export const initialMeetingsState: MeetingsState = { meetings: {} };

// ── Commands ────────────────────────────────────────────────────────────────
interface OnCase {
  /** the case as read from care-<personId> in the same unit of work */
  care: Pick<CareState, 'status'>;
}
export interface ScheduleMeeting extends OnCase {
  type: 'ScheduleMeeting';
  meetingId: string;
  kind: Kind;
  at: string;
  modality: Modality;
  place?: string;
  scheduledBy: string;
}
export interface RescheduleMeeting extends OnCase {
  type: 'RescheduleMeeting';
  meetingId: string;
  at: string;
  modality: Modality;
  place?: string;
  reason: EventData<'MeetingRescheduled'>['reason'];
  rescheduledBy: string;
}
export interface HoldMeeting extends OnCase {
  type: 'HoldMeeting';
  meetingId: string;
  heldAt: string;
  personAttended: boolean;
  attendees: EventData<'MeetingHeld'>['attendees'];
  partnerIds: string[];
  /** already encrypted with the person's key */
  minutes?: Encrypted;
  recordedBy: string;
  /** the command's clock */
  now: string;
}
export interface MissMeeting extends OnCase {
  type: 'MissMeeting';
  meetingId: string;
  justified: boolean;
  reason: EventData<'MeetingMissed'>['reason'];
  note?: Encrypted;
  recordedBy: string;
  now: string;
}
export type MeetingCommand = ScheduleMeeting | RescheduleMeeting | HoldMeeting | MissMeeting;

// ── Domain errors ───────────────────────────────────────────────────────────
export class FirstMeetingPending extends ConflictError {
  constructor(meetingId: string) {
    super('first_meeting_pending', 'a first meeting is already scheduled: reschedule it, or record it as held or missed', { meetingId });
  }
}
export class MeetingClosed extends ConflictError {
  constructor(meetingId: string, status: Meeting['status']) {
    super('meeting_closed', `the meeting was ${status}: schedule a new one`, { meetingId, status });
  }
}
export class HeldInFuture extends RuleViolation {
  constructor(heldAt: string, now: string) {
    super('held_in_future', 'a meeting is recorded as held once it has taken place', { heldAt, now });
  }
}
export class MeetingNotDue extends RuleViolation {
  constructor(at: string, now: string) {
    super('meeting_not_due', 'a meeting is missed only once its time has passed', { at, now });
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
const ms = (instant: string) => Date.parse(instant);

function requireOpenCase(c: OnCase): void {
  if (c.care.status !== 'open') throw new CaseNotOpen(c.care.status);
}

function existing(s: MeetingsState, meetingId: string): Meeting {
  const m = s.meetings[meetingId];
  if (!m) throw new NotFoundError('meeting', meetingId);
  return m;
}

function schedule(c: ScheduleMeeting, s: MeetingsState): MeetingEvent[] {
  const known = s.meetings[c.meetingId];
  if (known) {
    if (known.kind === c.kind && ms(known.at) === ms(c.at) && known.modality === c.modality && known.place === (c.place ?? null)) return [];
    throw new DoneOtherwise('scheduling the meeting', { kind: known.kind, at: known.at, modality: known.modality, place: known.place });
  }
  requireOpenCase(c);
  if (c.kind === 'first_meeting') {
    const pending = Object.entries(s.meetings).find(([, m]) => m.kind === 'first_meeting' && m.status === 'scheduled');
    if (pending) throw new FirstMeetingPending(pending[0]);
  }
  return [
    {
      type: 'MeetingScheduled',
      data: { meetingId: c.meetingId, kind: c.kind, at: c.at, modality: c.modality, ...(c.place ? { place: c.place } : {}), scheduledBy: c.scheduledBy },
    },
  ];
}

function reschedule(c: RescheduleMeeting, s: MeetingsState): MeetingEvent[] {
  const m = existing(s, c.meetingId);
  if (m.status !== 'scheduled') throw new MeetingClosed(c.meetingId, m.status);
  if (ms(m.at) === ms(c.at) && m.modality === c.modality && m.place === (c.place ?? null)) return [];
  requireOpenCase(c);
  return [
    {
      type: 'MeetingRescheduled',
      data: { meetingId: c.meetingId, at: c.at, modality: c.modality, ...(c.place ? { place: c.place } : {}), reason: c.reason, rescheduledBy: c.rescheduledBy },
    },
  ];
}

function hold(c: HoldMeeting, s: MeetingsState): MeetingEvent[] {
  const m = existing(s, c.meetingId);
  if (m.status === 'held') {
    // the minutes are ciphertext: a repeat is told by when and whether the person came
    if (ms(m.heldAt!) === ms(c.heldAt) && m.personAttended === c.personAttended) return [];
    throw new DoneOtherwise('recording the meeting as held', { heldAt: m.heldAt, personAttended: m.personAttended });
  }
  if (m.status === 'missed') throw new MeetingClosed(c.meetingId, m.status);
  requireOpenCase(c);
  if (ms(c.heldAt) > ms(c.now)) throw new HeldInFuture(c.heldAt, c.now);
  return [
    {
      type: 'MeetingHeld',
      data: {
        meetingId: c.meetingId,
        kind: m.kind,
        heldAt: c.heldAt,
        personAttended: c.personAttended,
        attendees: c.attendees,
        partnerIds: c.partnerIds,
        ...(c.minutes ? { minutes: c.minutes } : {}),
        recordedBy: c.recordedBy,
      },
    },
  ];
}

function miss(c: MissMeeting, s: MeetingsState): MeetingEvent[] {
  const m = existing(s, c.meetingId);
  if (m.status === 'missed') {
    if (m.justified === c.justified && m.missedReason === c.reason) return [];
    throw new DoneOtherwise('recording the meeting as missed', { justified: m.justified, reason: m.missedReason });
  }
  if (m.status === 'held') throw new MeetingClosed(c.meetingId, m.status);
  requireOpenCase(c);
  if (ms(c.now) < ms(m.at)) throw new MeetingNotDue(m.at, c.now);
  return [
    {
      type: 'MeetingMissed',
      data: { meetingId: c.meetingId, kind: m.kind, justified: c.justified, reason: c.reason, ...(c.note ? { note: c.note } : {}), recordedBy: c.recordedBy },
    },
  ];
}

export function decide(c: MeetingCommand, s: MeetingsState): MeetingEvent[] {
  switch (c.type) {
    case 'ScheduleMeeting':
      return schedule(c, s);
    case 'RescheduleMeeting':
      return reschedule(c, s);
    case 'HoldMeeting':
      return hold(c, s);
    case 'MissMeeting':
      return miss(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

const withMeeting = (s: MeetingsState, meetingId: string, change: Partial<Meeting>): MeetingsState => ({
  meetings: { ...s.meetings, [meetingId]: { ...s.meetings[meetingId]!, ...change } },
});

export function evolve(s: MeetingsState, e: MeetingEvent): MeetingsState {
  switch (e.type) {
    case 'MeetingScheduled':
      return {
        meetings: {
          ...s.meetings,
          [e.data.meetingId]: {
            kind: e.data.kind,
            at: e.data.at,
            modality: e.data.modality,
            place: e.data.place ?? null,
            status: 'scheduled',
            heldAt: null,
            personAttended: null,
            justified: null,
            missedReason: null,
          },
        },
      };
    case 'MeetingRescheduled':
      return withMeeting(s, e.data.meetingId, { at: e.data.at, modality: e.data.modality, place: e.data.place ?? null });
    case 'MeetingHeld':
      return withMeeting(s, e.data.meetingId, { status: 'held', heldAt: e.data.heldAt, personAttended: e.data.personAttended });
    case 'MeetingMissed':
      return withMeeting(s, e.data.meetingId, { status: 'missed', justified: e.data.justified, missedReason: e.data.reason });
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const meetingsDecider: Decider<MeetingCommand, MeetingEvent, MeetingsState> = { initialState: initialMeetingsState, evolve, decide };
export const meetingsStream = (personId: string): string => `meetings-${personId}`;
