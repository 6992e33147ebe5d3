import { ConflictError, RuleViolation, type Encrypted } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import { CaseNotOpen, type CareState } from './care.js';

// Case notes: stream casenotes-<personId>, partition key the personId
// (docs/casework.md).
// - Written by a team member on an open case, encrypted with the person's key.
// - Visibility `team`: the team (and admins) only. Visibility `shared`: also
//   the partner of the named referral, which must be open (requested,
//   accepted or in progress) when the note is written, as the person's
//   reservation stream case-<personId> says.
// - Who may read is decided at read time too (whoMayRead): a partner reads a
//   shared note only while its referral is still open. So a referral that
//   closes between the check above and the append discloses nothing.
// - A note is never changed: a correction is a new note. Writing the same
//   note id again is a repeat (a retried request).

export type NoteEvent = DomainEvent<'CaseNoteWritten'>;

export interface NoteFact {
  visibility: 'team' | 'shared';
  referralId: string | null;
  partnerId: string | null;
}

export interface NotesState {
  notes: Record<string, NoteFact>;
}

export const initialNotesState: NotesState = { notes: {} };

// ── Commands ────────────────────────────────────────────────────────────────
export interface WriteNote {
  type: 'WriteNote';
  noteId: string;
  /** already encrypted with the person's key */
  text: Encrypted;
  visibility: 'team' | 'shared';
  referralId?: string;
  writtenBy: string;
  care: Pick<CareState, 'status'>;
  /** the person's open referrals (referralId → partner), from case-<personId> */
  openReferrals: Record<string, { partnerId: string }>;
}
export type NoteCommand = WriteNote;

// ── Domain errors ───────────────────────────────────────────────────────────
export class ReferralNeededToShare extends RuleViolation {
  constructor() {
    super('referral_required', 'a shared note names the open referral whose partner may read it; a team note names none');
  }
}
export class ReferralNotOpen extends ConflictError {
  constructor(referralId: string) {
    super('referral_not_open', 'the referral is not an open referral of this person: its partner may not read the person’s notes', { referralId });
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
function write(c: WriteNote, s: NotesState): NoteEvent[] {
  if (s.notes[c.noteId]) return [];
  if (c.care.status !== 'open') throw new CaseNotOpen(c.care.status);
  if ((c.visibility === 'shared') !== (c.referralId !== undefined)) throw new ReferralNeededToShare();
  let partnerId: string | undefined;
  if (c.referralId !== undefined) {
    partnerId = c.openReferrals[c.referralId]?.partnerId;
    if (!partnerId) throw new ReferralNotOpen(c.referralId);
  }
  return [
    {
      type: 'CaseNoteWritten',
      data: {
        noteId: c.noteId,
        text: c.text,
        visibility: c.visibility,
        ...(c.referralId && partnerId ? { referralId: c.referralId, partnerId } : {}),
        writtenBy: c.writtenBy,
      },
    },
  ];
}

export function decide(c: NoteCommand, s: NotesState): NoteEvent[] {
  switch (c.type) {
    case 'WriteNote':
      return write(c, s);
    default: {
      const unknown: never = c.type;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: NotesState, e: NoteEvent): NotesState {
  return {
    notes: { ...s.notes, [e.data.noteId]: { visibility: e.data.visibility, referralId: e.data.referralId ?? null, partnerId: e.data.partnerId ?? null } },
  };
}

/**
 * Who reads a note now: the team always; a partner only a note shared with it
 * whose referral is still open (its purpose ends with the referral).
 */
export function partnerMayRead(note: NoteFact, partnerId: string, openReferrals: Record<string, { partnerId: string }>): boolean {
  return note.visibility === 'shared' && note.partnerId === partnerId && note.referralId !== null && openReferrals[note.referralId]?.partnerId === partnerId;
}

export const notesDecider: Decider<NoteCommand, NoteEvent, NotesState> = { initialState: initialNotesState, evolve, decide };
export const notesStream = (personId: string): string => `casenotes-${personId}`;
