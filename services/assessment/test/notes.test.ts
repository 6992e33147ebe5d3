import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@onestop/testkit';
import { CaseNotOpen } from '../src/domain/care.js';
import { ReferralNeededToShare, ReferralNotOpen, notesDecider, partnerMayRead, type NoteEvent, type WriteNote } from '../src/domain/notes.js';

const spec = deciderSpec(notesDecider);
const n1 = '88888888-8888-4888-8888-888888888888';
const r1 = '99999999-9999-4999-8999-999999999999';
const r2 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const enc = { alg: 'A256GCM', kid: 'k1', iv: 'AAAAAAAAAAAAAAAA', ct: 'Y2lwaGVy', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' } as const;
const open = { [r1]: { partnerId: 'caritas' } };
const teamNote: WriteNote = { type: 'WriteNote', noteId: n1, text: enc, visibility: 'team', writtenBy: 'sw-1', care: { status: 'open' }, openReferrals: open };
const shared: NoteEvent = { type: 'CaseNoteWritten', data: { noteId: n1, text: enc, visibility: 'shared', referralId: r1, partnerId: 'caritas', writtenBy: 'sw-1' } };

describe('Case notes', () => {
  describe('on an open case', () => {
    it('writes a team note', () =>
      spec.given([]).when(teamNote).then([{ type: 'CaseNoteWritten', data: { noteId: n1, text: enc, visibility: 'team', writtenBy: 'sw-1' } }]));
    it('shares a note with the partner of an open referral, naming both', () =>
      spec.given([]).when({ ...teamNote, visibility: 'shared', referralId: r1 }).then([shared]));
    it('refuses to share with a referral that is not open (closed, or another person’s)', () => {
      const e = spec.given([]).when({ ...teamNote, visibility: 'shared', referralId: r2 }).thenThrows(ReferralNotOpen, 'referral_not_open');
      expect(e.details).toEqual({ referralId: r2 });
    });
    it('a shared note names a referral, a team note none', () => {
      spec.given([]).when({ ...teamNote, visibility: 'shared' }).thenThrows(ReferralNeededToShare, 'referral_required');
      spec.given([]).when({ ...teamNote, referralId: r1 }).thenThrows(ReferralNeededToShare, 'referral_required');
    });
    it('writing the same note again is a repeat', () => spec.given([shared]).when({ ...teamNote, visibility: 'shared', referralId: r1 }).thenNothing());
  });

  describe('on a closed case, or none', () => {
    it('refuses a note', () => {
      spec.given([]).when({ ...teamNote, care: { status: 'closed' } }).thenThrows(CaseNotOpen, 'case_not_open');
      spec.given([]).when({ ...teamNote, care: { status: 'none' } }).thenThrows(CaseNotOpen, 'case_not_open');
    });
  });

  describe('who reads a note', () => {
    const note = spec.given([shared]).state.notes[n1]!;
    it('the partner it was shared with, while the referral is open', () => expect(partnerMayRead(note, 'caritas', open)).toBe(true));
    it('not once the referral has closed', () => expect(partnerMayRead(note, 'caritas', {})).toBe(false));
    it('never another partner, even one with an open referral of the person', () =>
      expect(partnerMayRead(note, 'coeso', { [r1]: { partnerId: 'caritas' }, [r2]: { partnerId: 'coeso' } })).toBe(false));
    it('never a team note', () =>
      expect(partnerMayRead({ visibility: 'team', referralId: null, partnerId: null }, 'caritas', open)).toBe(false));
  });
});
