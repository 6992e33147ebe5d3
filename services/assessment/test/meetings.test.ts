import { describe, expect, it } from 'vitest';
import { DoneOtherwise, NotFoundError } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { CaseNotOpen } from '../src/domain/care.js';
import {
  FirstMeetingPending,
  HeldInFuture,
  MeetingClosed,
  MeetingNotDue,
  meetingsDecider,
  type HoldMeeting,
  type MeetingEvent,
  type MissMeeting,
  type ScheduleMeeting,
} from '../src/domain/meetings.js';

const spec = deciderSpec(meetingsDecider);
const m1 = '55555555-5555-4555-8555-555555555555';
const m2 = '66666666-6666-4666-8666-666666666666';
const enc = { alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct: 'Y2lwaGVy', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' } as const;
const openCase = { status: 'open' } as const;

const schedule: ScheduleMeeting = {
  type: 'ScheduleMeeting',
  meetingId: m1,
  kind: 'first_meeting',
  at: '2026-11-02T09:30:00Z',
  modality: 'in_person',
  place: 'pistoia-centro',
  scheduledBy: 'sw-1',
  care: openCase,
};
const scheduled: MeetingEvent = {
  type: 'MeetingScheduled',
  data: { meetingId: m1, kind: 'first_meeting', at: '2026-11-02T09:30:00Z', modality: 'in_person', place: 'pistoia-centro', scheduledBy: 'sw-1' },
};
const hold: HoldMeeting = {
  type: 'HoldMeeting',
  meetingId: m1,
  heldAt: '2026-11-02T09:40:00Z',
  personAttended: true,
  attendees: [{ memberId: 'sw-1', role: 'social_worker' }],
  partnerIds: [],
  minutes: enc,
  recordedBy: 'sw-1',
  now: '2026-11-02T12:00:00Z',
  care: openCase,
};
const miss: MissMeeting = { type: 'MissMeeting', meetingId: m1, justified: false, reason: 'no_show', recordedBy: 'sw-1', now: '2026-11-02T12:00:00Z', care: openCase };
const held: MeetingEvent = {
  type: 'MeetingHeld',
  data: {
    meetingId: m1,
    kind: 'first_meeting',
    heldAt: '2026-11-02T09:40:00Z',
    personAttended: true,
    attendees: [{ memberId: 'sw-1', role: 'social_worker' }],
    partnerIds: [],
    minutes: enc,
    recordedBy: 'sw-1',
  },
};
const missed: MeetingEvent = { type: 'MeetingMissed', data: { meetingId: m1, kind: 'first_meeting', justified: false, reason: 'no_show', recordedBy: 'sw-1' } };

describe('Meetings', () => {
  describe('when nothing is scheduled', () => {
    it('schedules a first meeting on an open case', () => spec.given([]).when(schedule).then([scheduled]));
    it('schedules without a place (a phone call)', () =>
      spec
        .given([])
        .when({ ...schedule, modality: 'phone', place: undefined })
        .then([{ type: 'MeetingScheduled', data: { meetingId: m1, kind: 'first_meeting', at: '2026-11-02T09:30:00Z', modality: 'phone', scheduledBy: 'sw-1' } }]));
    it('refuses without an open case', () => {
      spec.given([]).when({ ...schedule, care: { status: 'none' } }).thenThrows(CaseNotOpen, 'case_not_open');
      spec.given([]).when({ ...schedule, care: { status: 'closed' } }).thenThrows(CaseNotOpen, 'case_not_open');
    });
    it('a meeting it does not know cannot be held, missed or rescheduled', () => {
      spec.given([]).when(hold).thenThrows(NotFoundError);
      spec.given([]).when(miss).thenThrows(NotFoundError);
      spec.given([]).when({ type: 'RescheduleMeeting', meetingId: m1, at: '2026-11-03T09:00:00Z', modality: 'video', reason: 'other', rescheduledBy: 'sw-1', care: openCase }).thenThrows(NotFoundError);
    });
  });

  describe('when a meeting is scheduled', () => {
    it('scheduling it again is a repeat (the same instant in another offset too); other data is refused', () => {
      spec.given([scheduled]).when(schedule).thenNothing();
      spec.given([scheduled]).when({ ...schedule, at: '2026-11-02T10:30:00+01:00' }).thenNothing();
      spec.given([scheduled]).when({ ...schedule, at: '2026-11-03T09:30:00Z' }).thenThrows(DoneOtherwise, 'done_otherwise');
    });
    it('refuses a second first meeting while one waits, naming it', () => {
      const e = spec.given([scheduled]).when({ ...schedule, meetingId: m2 }).thenThrows(FirstMeetingPending, 'first_meeting_pending');
      expect(e.details).toEqual({ meetingId: m1 });
    });
    it('schedules a review beside it', () =>
      spec.given([scheduled]).when({ ...schedule, meetingId: m2, kind: 'review' }).thenMatches([{ type: 'MeetingScheduled', data: { meetingId: m2, kind: 'review' } }]));
    it('reschedules it with a reason', () =>
      spec
        .given([scheduled])
        .when({ type: 'RescheduleMeeting', meetingId: m1, at: '2026-11-04T09:30:00Z', modality: 'video', reason: 'person_request', rescheduledBy: 'sw-1', care: openCase })
        .then([{ type: 'MeetingRescheduled', data: { meetingId: m1, at: '2026-11-04T09:30:00Z', modality: 'video', reason: 'person_request', rescheduledBy: 'sw-1' } }]));
    it('rescheduling to where and when it already is is a repeat', () =>
      spec
        .given([scheduled])
        .when({ type: 'RescheduleMeeting', meetingId: m1, at: schedule.at, modality: 'in_person', place: 'pistoia-centro', reason: 'other', rescheduledBy: 'sw-1', care: openCase })
        .thenNothing());
    it('records it as held, with its kind, attendees and encrypted minutes', () => spec.given([scheduled]).when(hold).then([held]));
    it('refuses to record as held a meeting said to take place after now', () =>
      spec.given([scheduled]).when({ ...hold, heldAt: '2026-11-02T13:00:00Z' }).thenThrows(HeldInFuture, 'held_in_future'));
    it('records it as missed once its time has passed, not before', () => {
      spec.given([scheduled]).when(miss).then([missed]);
      spec.given([scheduled]).when({ ...miss, now: '2026-11-02T09:00:00Z' }).thenThrows(MeetingNotDue, 'meeting_not_due');
    });
    it('a justified absence keeps its reason and note', () =>
      spec
        .given([scheduled])
        .when({ ...miss, justified: true, reason: 'illness', note: enc })
        .then([{ type: 'MeetingMissed', data: { meetingId: m1, kind: 'first_meeting', justified: true, reason: 'illness', note: enc, recordedBy: 'sw-1' } }]));
    it('refuses to record it on a closed case', () => spec.given([scheduled]).when({ ...hold, care: { status: 'closed' } }).thenThrows(CaseNotOpen));
  });

  describe('when the meeting was rescheduled', () => {
    const moved: MeetingEvent[] = [
      scheduled,
      { type: 'MeetingRescheduled', data: { meetingId: m1, at: '2026-11-04T09:30:00Z', modality: 'video', reason: 'person_request', rescheduledBy: 'sw-1' } },
    ];
    it('it is missed only after its new time', () => {
      spec.given(moved).when({ ...miss, now: '2026-11-03T12:00:00Z' }).thenThrows(MeetingNotDue);
      spec.given(moved).when({ ...miss, now: '2026-11-04T12:00:00Z' }).thenMatches([{ type: 'MeetingMissed' }]);
    });
    it('keeps its new modality, with no place', () => expect(spec.given(moved).state.meetings[m1]).toMatchObject({ modality: 'video', place: null, at: '2026-11-04T09:30:00Z' }));
  });

  describe('when the meeting was held', () => {
    it('recording it again is a repeat; with another time or attendance refused', () => {
      spec.given([scheduled, held]).when(hold).thenNothing();
      spec.given([scheduled, held]).when({ ...hold, personAttended: false }).thenThrows(DoneOtherwise, 'done_otherwise');
    });
    it('refuses to reschedule it or record it as missed', () => {
      spec.given([scheduled, held]).when(miss).thenThrows(MeetingClosed, 'meeting_closed');
      spec
        .given([scheduled, held])
        .when({ type: 'RescheduleMeeting', meetingId: m1, at: '2026-11-09T09:30:00Z', modality: 'video', reason: 'other', rescheduledBy: 'sw-1', care: openCase })
        .thenThrows(MeetingClosed, 'meeting_closed');
    });
    it('a new first meeting may be scheduled (a reopened case, a new pact)', () =>
      spec.given([scheduled, held]).when({ ...schedule, meetingId: m2 }).thenMatches([{ type: 'MeetingScheduled', data: { meetingId: m2 } }]));
  });

  describe('when the meeting was missed', () => {
    it('recording it again is a repeat; with another justification refused', () => {
      spec.given([scheduled, missed]).when(miss).thenNothing();
      spec.given([scheduled, missed]).when({ ...miss, justified: true }).thenThrows(DoneOtherwise);
    });
    it('refuses to hold it: a new meeting is scheduled instead', () => {
      spec.given([scheduled, missed]).when(hold).thenThrows(MeetingClosed, 'meeting_closed');
      spec.given([scheduled, missed]).when({ ...schedule, meetingId: m2 }).thenMatches([{ type: 'MeetingScheduled', data: { meetingId: m2 } }]);
    });
  });
});
