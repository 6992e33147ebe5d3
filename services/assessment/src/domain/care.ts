import { ConflictError, DoneOtherwise, NotFoundError, RuleViolation, type Encrypted, type EventData, type TeamRole } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import { PersonDataErased } from './assessment.js';

// The person's case, taken in charge (presa in carico): stream care-<personId>,
// partition key the personId (docs/casework.md). Not the reservation stream
// case-<personId>: that one is appended to by every assessment start and
// every referral step, and stays in the store; the case file would contend
// with them and would put the reservations on a topic.
// - A case is opened for a person the service has heard of and whose personal
//   data is not erased, under a programme (`adi`, `generic`: the clock policy),
//   from the activation date (the digital activation pact: the statutory
//   clocks run from it; not in the future), at an access point, with its first
//   case manager. A completed assessment is not needed: under the ADI the
//   assessment happens at the first meeting, which is due after the pact.
// - One case per person. Opening it again with the same data is a repeat;
//   with other data it is refused (done_otherwise); a closed case is reopened.
// - A transfer hands the case to another team member, with a coded reason;
//   to the current case manager it is a repeat.
// - Closing needs a coded reason; `other` needs an encrypted note. Closing a
//   closed case for the same reason is a repeat, for another one refused.
// - A closed case refuses transfers (and, in the other deciders, meetings,
//   plan changes and notes) until it is reopened; a reopened case keeps its
//   case manager and may restart the clocks with a new activation date.

export type CareEvent = DomainEvent<'CaseOpened' | 'CaseManagerAssigned' | 'CaseTransferred' | 'CaseClosed' | 'CaseReopened'>;
export type CloseReason = EventData<'CaseClosed'>['reason'];
export type TransferReason = EventData<'CaseTransferred'>['reason'];

export interface CaseManager {
  memberId: string;
  role: TeamRole;
}

export interface CareState {
  status: 'none' | 'open' | 'closed';
  personId: string | null;
  programme: string | null;
  /** the activation date the clocks run from (the latest, after a reopening with a new pact) */
  activationDate: string | null;
  accessPoint: string | null;
  caseManager: CaseManager | null;
  closeReason: CloseReason | null;
  /** times the case was reopened */
  reopenings: number;
}

export const initialCareState: CareState = {
  status: 'none',
  personId: null,
  programme: null,
  activationDate: null,
  accessPoint: null,
  caseManager: null,
  closeReason: null,
  reopenings: 0,
};

/** What the service knows about the person, from intake's events (its facts view). */
export interface PersonStanding {
  known: boolean;
  erased: boolean;
}

// ── Commands ────────────────────────────────────────────────────────────────
export interface OpenCase {
  type: 'OpenCase';
  personId: string;
  programme: string;
  activationDate: string;
  accessPoint: string;
  caseManager: CaseManager;
  openedBy: string;
  /** ISO date, from the command's clock */
  today: string;
  person: PersonStanding;
}
export interface TransferCase {
  type: 'TransferCase';
  to: CaseManager;
  reason: TransferReason;
  transferredBy: string;
}
export interface CloseCase {
  type: 'CloseCase';
  reason: CloseReason;
  /** already encrypted with the person's key */
  note?: Encrypted;
  closedBy: string;
}
export interface ReopenCase {
  type: 'ReopenCase';
  reopenedBy: string;
  activationDate?: string;
  today: string;
}
export type CareCommand = OpenCase | TransferCase | CloseCase | ReopenCase;

// ── Domain errors ───────────────────────────────────────────────────────────
export class CaseNotOpen extends ConflictError {
  constructor(status: CareState['status']) {
    super('case_not_open', status === 'closed' ? 'the case is closed: reopen it first' : 'the person has no case: open one first', { status });
  }
}
export class CaseAlreadyClosed extends ConflictError {
  constructor() {
    super('case_closed', 'the case is closed: reopen it instead of opening it again');
  }
}
export class CaseNeverClosed extends ConflictError {
  constructor() {
    super('case_not_closed', 'the case is open and was never closed: there is nothing to reopen');
  }
}
export class ActivationInFuture extends RuleViolation {
  constructor(activationDate: string, today: string) {
    super('activation_in_future', 'the activation date is the date of a pact already made: it cannot be after today', { activationDate, today });
  }
}
export class CloseNoteRequired extends RuleViolation {
  constructor() {
    super('note_required', 'closing a case for reason `other` needs a note saying why');
  }
}

// ── Rules ───────────────────────────────────────────────────────────────────
function openCase(c: OpenCase, s: CareState): CareEvent[] {
  if (s.status === 'closed') throw new CaseAlreadyClosed();
  if (s.status === 'open') {
    const same =
      s.programme === c.programme &&
      s.activationDate === c.activationDate &&
      s.accessPoint === c.accessPoint &&
      s.caseManager?.memberId === c.caseManager.memberId;
    if (same && s.reopenings === 0) return [];
    throw new DoneOtherwise('opening the case', { programme: s.programme, activationDate: s.activationDate, accessPoint: s.accessPoint, caseManager: s.caseManager });
  }
  if (c.person.erased) throw new PersonDataErased(c.personId);
  if (!c.person.known) throw new NotFoundError('person', c.personId);
  if (c.activationDate > c.today) throw new ActivationInFuture(c.activationDate, c.today);
  return [
    {
      type: 'CaseOpened',
      data: { personId: c.personId, programme: c.programme, activationDate: c.activationDate, accessPoint: c.accessPoint, openedBy: c.openedBy },
    },
    { type: 'CaseManagerAssigned', data: { caseManager: c.caseManager, assignedBy: c.openedBy } },
  ];
}

function transferCase(c: TransferCase, s: CareState): CareEvent[] {
  if (s.status !== 'open') throw new CaseNotOpen(s.status);
  if (s.caseManager?.memberId === c.to.memberId) return [];
  return [{ type: 'CaseTransferred', data: { from: s.caseManager!.memberId, to: c.to, reason: c.reason, transferredBy: c.transferredBy } }];
}

function closeCase(c: CloseCase, s: CareState): CareEvent[] {
  if (s.status === 'none') throw new CaseNotOpen(s.status);
  if (s.status === 'closed') {
    // the note is ciphertext: a repeat is told by its reason alone
    if (s.closeReason === c.reason) return [];
    throw new DoneOtherwise('closing the case', { reason: s.closeReason });
  }
  if (c.reason === 'other' && !c.note) throw new CloseNoteRequired();
  return [{ type: 'CaseClosed', data: { reason: c.reason, ...(c.note ? { note: c.note } : {}), closedBy: c.closedBy } }];
}

function reopenCase(c: ReopenCase, s: CareState): CareEvent[] {
  if (s.status === 'none') throw new CaseNotOpen(s.status);
  if (s.status === 'open') {
    if (s.reopenings === 0) throw new CaseNeverClosed();
    // a retried reopening: the same pact is a repeat, another one is refused
    if (c.activationDate === undefined || c.activationDate === s.activationDate) return [];
    throw new DoneOtherwise('reopening the case', { activationDate: s.activationDate });
  }
  if (c.activationDate !== undefined && c.activationDate > c.today) throw new ActivationInFuture(c.activationDate, c.today);
  return [{ type: 'CaseReopened', data: { reopenedBy: c.reopenedBy, ...(c.activationDate ? { activationDate: c.activationDate } : {}) } }];
}

export function decide(c: CareCommand, s: CareState): CareEvent[] {
  switch (c.type) {
    case 'OpenCase':
      return openCase(c, s);
    case 'TransferCase':
      return transferCase(c, s);
    case 'CloseCase':
      return closeCase(c, s);
    case 'ReopenCase':
      return reopenCase(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: CareState, e: CareEvent): CareState {
  switch (e.type) {
    case 'CaseOpened':
      return {
        ...s,
        status: 'open',
        personId: e.data.personId,
        programme: e.data.programme,
        activationDate: e.data.activationDate,
        accessPoint: e.data.accessPoint,
      };
    case 'CaseManagerAssigned':
      return { ...s, caseManager: e.data.caseManager };
    case 'CaseTransferred':
      return { ...s, caseManager: e.data.to };
    case 'CaseClosed':
      return { ...s, status: 'closed', closeReason: e.data.reason };
    case 'CaseReopened':
      return { ...s, status: 'open', closeReason: null, reopenings: s.reopenings + 1, activationDate: e.data.activationDate ?? s.activationDate };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const careDecider: Decider<CareCommand, CareEvent, CareState> = { initialState: initialCareState, evolve, decide };
export const careStream = (personId: string): string => `care-${personId}`;
