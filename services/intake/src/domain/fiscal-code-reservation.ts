import type { Decider, DomainEvent } from '@onestop/kit';
import { DuplicateFiscalCode } from './person.js';

// One person per fiscal code (stream fiscalcode-<blind index>), DESIGN §4 and
// §9. A registration with a fiscal code reserves it in the same atomic append
// as PersonRegistered, so the stream's expected revision refuses the second of
// two simultaneous registrations, whatever the number of intake processes:
// - a fiscal code held by a registered person is refused, naming that person;
// - the erasure of the holder's personal data releases it; a reservation
//   still held by an erased person (an erasure recorded before releases
//   existed, or one that crashed half-way) is taken over by a new registration;
// - reserving it again for its holder changes nothing (a retried command).
// The stream is named by a keyed digest of the fiscal code (HMAC with
// ONESTOP_INDEX_KEY), never the code itself: see SECURITY.md.

export type FiscalCodeEvent = DomainEvent<'FiscalCodeReserved' | 'FiscalCodeReleased'>;

export interface FiscalCodeState {
  /** the registered person the fiscal code belongs to, if any */
  holder: string | null;
}

export const initialFiscalCodeState: FiscalCodeState = { holder: null };

export interface ReserveFiscalCode {
  type: 'ReserveFiscalCode';
  personId: string;
  /** whether the current holder's personal data was erased (from the holder's own stream) */
  holderErased: boolean;
}
export interface ReleaseFiscalCode {
  type: 'ReleaseFiscalCode';
  personId: string;
}
export type FiscalCodeCommand = ReserveFiscalCode | ReleaseFiscalCode;

function reserve(c: ReserveFiscalCode, s: FiscalCodeState): FiscalCodeEvent[] {
  if (s.holder === c.personId) return [];
  if (s.holder && !c.holderErased) throw new DuplicateFiscalCode(s.holder);
  return [{ type: 'FiscalCodeReserved', data: { personId: c.personId } }];
}

function release(c: ReleaseFiscalCode, s: FiscalCodeState): FiscalCodeEvent[] {
  if (s.holder !== c.personId) return [];
  return [{ type: 'FiscalCodeReleased', data: { personId: c.personId, reason: 'personal_data_erased' } }];
}

export function decide(c: FiscalCodeCommand, s: FiscalCodeState): FiscalCodeEvent[] {
  switch (c.type) {
    case 'ReserveFiscalCode':
      return reserve(c, s);
    case 'ReleaseFiscalCode':
      return release(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: FiscalCodeState, e: FiscalCodeEvent): FiscalCodeState {
  switch (e.type) {
    case 'FiscalCodeReserved':
      return { holder: e.data.personId };
    case 'FiscalCodeReleased':
      return s.holder === e.data.personId ? { holder: null } : s;
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const fiscalCodeDecider: Decider<FiscalCodeCommand, FiscalCodeEvent, FiscalCodeState> = {
  initialState: initialFiscalCodeState,
  evolve,
  decide,
};
/** The reservation stream of a fiscal code, by its blind index (hex). */
export const fiscalCodeStream = (digest: string): string => `fiscalcode-${digest}`;
