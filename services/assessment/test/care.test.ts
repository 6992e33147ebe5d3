import { describe, expect, it } from 'vitest';
import { DoneOtherwise, NotFoundError } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import { PersonDataErased } from '../src/domain/assessment.js';
import {
  ActivationInFuture,
  CaseAlreadyClosed,
  CaseNeverClosed,
  CaseNotOpen,
  CloseNoteRequired,
  careDecider,
  type CareEvent,
  type OpenCase,
} from '../src/domain/care.js';

const spec = deciderSpec(careDecider);
const personId = '11111111-1111-4111-8111-111111111111';
const enc = { alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct: 'Y2lwaGVy', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' } as const;
const sw1 = { memberId: 'sw-1', role: 'social_worker' } as const;
const sw2 = { memberId: 'sw-2', role: 'social_worker' } as const;

const open: OpenCase = {
  type: 'OpenCase',
  personId,
  programme: 'adi',
  activationDate: '2026-10-01',
  accessPoint: 'pistoia-centro',
  caseManager: sw1,
  openedBy: 'sw-1',
  today: '2026-10-05',
  person: { known: true, erased: false },
};
const opened: CareEvent[] = [
  { type: 'CaseOpened', data: { personId, programme: 'adi', activationDate: '2026-10-01', accessPoint: 'pistoia-centro', openedBy: 'sw-1' } },
  { type: 'CaseManagerAssigned', data: { caseManager: sw1, assignedBy: 'sw-1' } },
];
const closed: CareEvent[] = [...opened, { type: 'CaseClosed', data: { reason: 'moved_away', closedBy: 'sw-1' } }];

describe('Case (presa in carico)', () => {
  describe('when the person has no case', () => {
    it('opens one from the activation date, with its first case manager', () => spec.given([]).when(open).then(opened));
    it('opens one whose activation pact is today', () =>
      spec.given([]).when({ ...open, activationDate: '2026-10-05' }).thenMatches([{ type: 'CaseOpened', data: { activationDate: '2026-10-05' } }, { type: 'CaseManagerAssigned' }]));
    it('refuses an activation date after today: the pact is made before the case', () => {
      const e = spec.given([]).when({ ...open, activationDate: '2026-10-06' }).thenThrows(ActivationInFuture, 'activation_in_future');
      expect(e.details).toEqual({ activationDate: '2026-10-06', today: '2026-10-05' });
    });
    it('refuses a person it has not heard of', () => spec.given([]).when({ ...open, person: { known: false, erased: false } }).thenThrows(NotFoundError));
    it('refuses a person whose data was erased', () =>
      spec.given([]).when({ ...open, person: { known: true, erased: true } }).thenThrows(PersonDataErased, 'personal_data_erased'));
    it('refuses transfers, closure and reopening: there is no case', () => {
      spec.given([]).when({ type: 'TransferCase', to: sw2, reason: 'workload', transferredBy: 'sw-1' }).thenThrows(CaseNotOpen, 'case_not_open');
      spec.given([]).when({ type: 'CloseCase', reason: 'goals_achieved', closedBy: 'sw-1' }).thenThrows(CaseNotOpen, 'case_not_open');
      spec.given([]).when({ type: 'ReopenCase', reopenedBy: 'sw-1', today: '2026-10-05' }).thenThrows(CaseNotOpen, 'case_not_open');
    });
  });

  describe('when the case is open', () => {
    it('opening it again with the same data is a repeat', () => spec.given(opened).when(open).thenNothing());
    it('opening it again with other data is refused, naming what stands', () => {
      const e = spec.given(opened).when({ ...open, programme: 'generic' }).thenThrows(DoneOtherwise, 'done_otherwise');
      expect(e.details).toMatchObject({ stands: { programme: 'adi', caseManager: sw1 } });
      spec.given(opened).when({ ...open, caseManager: sw2 }).thenThrows(DoneOtherwise, 'done_otherwise');
    });
    it('transfers it to another team member with a reason', () =>
      spec
        .given(opened)
        .when({ type: 'TransferCase', to: sw2, reason: 'staff_left', transferredBy: 'sw-1' })
        .then([{ type: 'CaseTransferred', data: { from: 'sw-1', to: sw2, reason: 'staff_left', transferredBy: 'sw-1' } }]));
    it('a transfer to the current case manager is a repeat', () =>
      spec.given(opened).when({ type: 'TransferCase', to: sw1, reason: 'workload', transferredBy: 'sw-1' }).thenNothing());
    it('after a transfer, the new case manager hands it on', () => {
      const moved: CareEvent[] = [...opened, { type: 'CaseTransferred', data: { from: 'sw-1', to: sw2, reason: 'workload', transferredBy: 'sw-1' } }];
      expect(spec.given(moved).state.caseManager).toEqual(sw2);
      spec
        .given(moved)
        .when({ type: 'TransferCase', to: sw1, reason: 'person_request', transferredBy: 'sw-2' })
        .thenMatches([{ type: 'CaseTransferred', data: { from: 'sw-2', to: sw1 } }]);
    });
    it('closes it with a coded reason', () =>
      spec
        .given(opened)
        .when({ type: 'CloseCase', reason: 'goals_achieved', closedBy: 'sw-1' })
        .then([{ type: 'CaseClosed', data: { reason: 'goals_achieved', closedBy: 'sw-1' } }]));
    it('closing for `other` needs a note, kept encrypted', () => {
      spec.given(opened).when({ type: 'CloseCase', reason: 'other', closedBy: 'sw-1' }).thenThrows(CloseNoteRequired, 'note_required');
      spec
        .given(opened)
        .when({ type: 'CloseCase', reason: 'other', note: enc, closedBy: 'sw-1' })
        .then([{ type: 'CaseClosed', data: { reason: 'other', note: enc, closedBy: 'sw-1' } }]);
    });
    it('refuses to reopen a case that was never closed', () =>
      spec.given(opened).when({ type: 'ReopenCase', reopenedBy: 'sw-1', today: '2026-10-05' }).thenThrows(CaseNeverClosed, 'case_not_closed'));
  });

  describe('when the case is closed', () => {
    it('closing it again for the same reason is a repeat; for another reason refused', () => {
      spec.given(closed).when({ type: 'CloseCase', reason: 'moved_away', closedBy: 'sw-1' }).thenNothing();
      spec.given(closed).when({ type: 'CloseCase', reason: 'deceased', closedBy: 'sw-1' }).thenThrows(DoneOtherwise, 'done_otherwise');
    });
    it('refuses a transfer', () =>
      spec.given(closed).when({ type: 'TransferCase', to: sw2, reason: 'workload', transferredBy: 'sw-1' }).thenThrows(CaseNotOpen, 'case_not_open'));
    it('refuses to open it again: a closed case is reopened', () => spec.given(closed).when(open).thenThrows(CaseAlreadyClosed, 'case_closed'));
    it('reopens it, keeping the case manager and the clocks', () => {
      spec.given(closed).when({ type: 'ReopenCase', reopenedBy: 'sw-1', today: '2027-01-10' }).then([{ type: 'CaseReopened', data: { reopenedBy: 'sw-1' } }]);
      const s = spec.given([...closed, { type: 'CaseReopened', data: { reopenedBy: 'sw-1' } }]).state;
      expect(s).toMatchObject({ status: 'open', caseManager: sw1, activationDate: '2026-10-01', closeReason: null });
    });
    it('reopens it under a new activation pact, which restarts the clocks', () => {
      spec
        .given(closed)
        .when({ type: 'ReopenCase', reopenedBy: 'sw-1', activationDate: '2027-01-08', today: '2027-01-10' })
        .then([{ type: 'CaseReopened', data: { reopenedBy: 'sw-1', activationDate: '2027-01-08' } }]);
      expect(spec.given([...closed, { type: 'CaseReopened', data: { reopenedBy: 'sw-1', activationDate: '2027-01-08' } }]).state.activationDate).toBe('2027-01-08');
      spec
        .given(closed)
        .when({ type: 'ReopenCase', reopenedBy: 'sw-1', activationDate: '2027-01-11', today: '2027-01-10' })
        .thenThrows(ActivationInFuture, 'activation_in_future');
    });
  });

  describe('when the case was reopened', () => {
    const reopened: CareEvent[] = [...closed, { type: 'CaseReopened', data: { reopenedBy: 'sw-1', activationDate: '2027-01-08' } }];
    it('reopening it again under the same pact is a repeat; under another pact refused', () => {
      spec.given(reopened).when({ type: 'ReopenCase', reopenedBy: 'sw-1', activationDate: '2027-01-08', today: '2027-01-10' }).thenNothing();
      spec.given(reopened).when({ type: 'ReopenCase', reopenedBy: 'sw-1', today: '2027-01-10' }).thenNothing();
      spec.given(reopened).when({ type: 'ReopenCase', reopenedBy: 'sw-1', activationDate: '2027-01-09', today: '2027-01-10' }).thenThrows(DoneOtherwise);
    });
    it('opening it is refused: it is not a first opening any more', () => spec.given(reopened).when(open).thenThrows(DoneOtherwise));
    it('closes it again', () =>
      spec.given(reopened).when({ type: 'CloseCase', reason: 'dropped_out', closedBy: 'sw-1' }).thenMatches([{ type: 'CaseClosed', data: { reason: 'dropped_out' } }]));
  });
});
