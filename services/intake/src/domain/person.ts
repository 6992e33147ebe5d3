import { ConflictError, NotFoundError, RuleViolation, type ConsentScope, type Encrypted } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';
import { BELFIORE_CODES } from './belfiore-codes.js';
import { checkNameLetters } from './fiscal-code-names.js';
import { validateFiscalCode, type FiscalCodeError } from './fiscal-code.js';

// The Person aggregate (stream person-<personId>), DESIGN §4 "Intake":
// - an Italian fiscal code, when given, must be valid (format, month and day
//   encoding, omocodia, check character) and must match the birth date;
// - its surname and name letters (characters 1–6) must be those of the names
//   given (fiscal-code-names.ts), and its place code (characters 12–15, after
//   omocodia) must be a known Italian municipality, current or former, or a
//   foreign state (belfiore-codes.ts, from ISTAT and the Agenzia delle
//   Entrate); a real exception (a changed surname, a transliteration, a code
//   the Agenzia assigned) is accepted only with an explicit override, which
//   the event records with the checks it set aside;
// - the birth date is not in the future, nor more than 120 years back;
// - a second registration with the same fiscal code is refused and names the
//   existing person: a rule of the fiscal code's reservation stream
//   (fiscal-code-reservation.ts), decided in the same atomic append; likely
//   duplicates are reported by the caller, not refused;
// - consent can be given and withdrawn at any time, per scope;
// - once the personal data is erased, nothing more can be recorded.

export type PersonEvent = DomainEvent<
  'PersonRegistered' | 'ConsentGiven' | 'ConsentWithdrawn' | 'ContactDetailsUpdated' | 'PersonalDataErased'
>;

export interface Consent {
  active: boolean;
  /** the event that gave (or last withdrew) it: disclosures record it */
  eventId: string | null;
}

export interface PersonState {
  status: 'unknown' | 'registered' | 'erased';
  personId: string | null;
  consents: Record<ConsentScope, Consent>;
}

export const initialPersonState: PersonState = {
  status: 'unknown',
  personId: null,
  consents: { assessment: { active: false, eventId: null }, referral_sharing: { active: false, eventId: null } },
};

// ── Commands ────────────────────────────────────────────────────────────────
export interface RegisterPerson {
  type: 'RegisterPerson';
  personId: string;
  accessPoint: string;
  registeredBy: string;
  municipality: string;
  birthDate: string;
  /** plain, only to be validated here; it is stored inside `pii`, encrypted */
  fiscalCode?: string;
  /** plain, only to check the fiscal code's letters; stored inside `pii`, encrypted */
  givenName: string;
  familyName: string;
  /** the operator's recorded exception to the fiscal code's name and place checks */
  fiscalCodeOverride?: FiscalCodeOverride;
  /** today's date (YYYY-MM-DD) from the command's time: deciders have no clock */
  today: string;
  pii: Encrypted;
}
export interface FiscalCodeOverride {
  reason: 'name_changed' | 'transliteration' | 'assigned_by_agency' | 'other';
}
export interface GiveConsent {
  type: 'GiveConsent';
  scope: ConsentScope;
  legalBasis: 'explicit_consent' | 'public_interest' | 'legal_obligation' | 'vital_interests' | 'social_protection_law';
  recordedBy: string;
}
export interface WithdrawConsent {
  type: 'WithdrawConsent';
  scope: ConsentScope;
  recordedBy: string;
}
export interface UpdateContactDetails {
  type: 'UpdateContactDetails';
  pii: Encrypted;
  updatedBy: string;
}
export interface ErasePersonalData {
  type: 'ErasePersonalData';
  requestedBy: string;
  reason: 'data_subject_request' | 'retention_expired' | 'unlawful_processing' | 'other';
}
export type PersonCommand = RegisterPerson | GiveConsent | WithdrawConsent | UpdateContactDetails | ErasePersonalData;

// ── Domain errors ───────────────────────────────────────────────────────────
export class InvalidFiscalCode extends RuleViolation {
  constructor(error: FiscalCodeError | 'birth_date_mismatch', message: string) {
    super('fiscal_code_invalid', message, { fiscalCodeError: error });
  }
}
export class ImplausibleBirthDate extends RuleViolation {
  constructor(message: string) {
    super('birth_date_implausible', message);
  }
}
export class FiscalCodeMismatch extends RuleViolation {
  constructor(check: 'names' | 'place', message: string) {
    super('fiscal_code_mismatch', `${message}; if this is a real exception (a changed surname, a transliteration, a code the Agenzia delle Entrate assigned), register with fiscalCodeOverride and its reason`, {
      check,
    });
  }
}
export class DuplicateFiscalCode extends ConflictError {
  constructor(readonly existingPersonId: string) {
    super('duplicate_fiscal_code', `a person with this fiscal code is already registered: ${existingPersonId}`, {
      existingPersonId,
    });
  }
}
export class PersonAlreadyRegistered extends ConflictError {
  constructor(personId: string) {
    super('person_already_registered', `person ${personId} is already registered`, { personId });
  }
}
export class PersonDataErased extends RuleViolation {
  constructor() {
    super('personal_data_erased', 'the personal data of this person has been erased');
  }
}
// ── Rules, one small function per command ──────────────────────────────────
/** The oldest plausible birth date: 120 years before today. */
const MAX_AGE_YEARS = 120;

function plausibleBirthDate(birthDate: string, today: string): void {
  if (birthDate > today) throw new ImplausibleBirthDate(`the birth date ${birthDate} is in the future`);
  const oldest = `${String(Number(today.slice(0, 4)) - MAX_AGE_YEARS).padStart(4, '0')}${today.slice(4)}`;
  if (birthDate < oldest) throw new ImplausibleBirthDate(`the birth date ${birthDate} is more than ${MAX_AGE_YEARS} years ago`);
}

const isKnownPlace = (code: string) => {
  // BELFIORE_CODES is sorted, four characters a code: binary search
  let lo = 0;
  let hi = BELFIORE_CODES.length / 4 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = BELFIORE_CODES.slice(mid * 4, mid * 4 + 4);
    if (at === code) return true;
    if (at < code) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
};

/** The checks of the fiscal code against the person's other data; the ones an override set aside. */
function checkFiscalCode(c: RegisterPerson & { fiscalCode: string }): Array<'names' | 'place'> {
  const fc = validateFiscalCode(c.fiscalCode);
  if (!fc.ok) throw new InvalidFiscalCode(fc.error, fc.message);
  const [year, month, day] = c.birthDate.split('-').map(Number) as [number, number, number];
  if (fc.birth.year2 !== year % 100 || fc.birth.month !== month || fc.birth.day !== day) {
    throw new InvalidFiscalCode('birth_date_mismatch', 'the fiscal code does not encode this birth date');
  }
  const failed: Array<{ check: 'names' | 'place'; message: string }> = [];
  const names = checkNameLetters(fc.code, c.familyName, c.givenName);
  if (names.result === 'mismatch') failed.push({ check: 'names', message: `the fiscal code's letters ${fc.code.slice(0, 6)} are not those of the names given (${names.expected})` });
  if (!isKnownPlace(fc.birthPlaceCode)) failed.push({ check: 'place', message: `the place code ${fc.birthPlaceCode} is neither an Italian municipality nor a foreign state` });
  if (failed.length && !c.fiscalCodeOverride) throw new FiscalCodeMismatch(failed[0]!.check, failed.map((f) => f.message).join('; '));
  return failed.map((f) => f.check);
}

function register(c: RegisterPerson, s: PersonState): PersonEvent[] {
  if (s.status !== 'unknown') throw new PersonAlreadyRegistered(c.personId);
  plausibleBirthDate(c.birthDate, c.today);
  const overridden = c.fiscalCode !== undefined ? checkFiscalCode({ ...c, fiscalCode: c.fiscalCode }) : [];
  return [
    {
      type: 'PersonRegistered',
      data: {
        personId: c.personId,
        accessPoint: c.accessPoint,
        registeredBy: c.registeredBy,
        pii: c.pii,
        municipality: c.municipality,
        birthYear: Number(c.birthDate.slice(0, 4)),
        // only when used: an override that set nothing aside is not an exception
        ...(overridden.length && c.fiscalCodeOverride ? { fiscalCodeOverride: { reason: c.fiscalCodeOverride.reason, checks: overridden } } : {}),
      },
    },
  ];
}

function mustBeRegistered(s: PersonState): void {
  if (s.status === 'unknown') throw new NotFoundError('person', s.personId ?? '?');
  if (s.status === 'erased') throw new PersonDataErased();
}

function giveConsent(c: GiveConsent, s: PersonState): PersonEvent[] {
  mustBeRegistered(s);
  // giving a consent that is already active changes nothing
  if (s.consents[c.scope].active) return [];
  return [{ type: 'ConsentGiven', data: { scope: c.scope, legalBasis: c.legalBasis, recordedBy: c.recordedBy } }];
}

function withdrawConsent(c: WithdrawConsent, s: PersonState): PersonEvent[] {
  mustBeRegistered(s);
  const consent = s.consents[c.scope];
  // the outcome holds already (withdrawn, or never given): a repeat records nothing
  if (!consent.active) return [];
  // names the consent it ends: what was done under it stops, what a later consent covers does not
  return [
    {
      type: 'ConsentWithdrawn',
      data: { scope: c.scope, legalBasis: 'explicit_consent', recordedBy: c.recordedBy, ...(consent.eventId ? { consentEventId: consent.eventId } : {}) },
    },
  ];
}

function updateContactDetails(c: UpdateContactDetails, s: PersonState): PersonEvent[] {
  mustBeRegistered(s);
  return [{ type: 'ContactDetailsUpdated', data: { pii: c.pii, updatedBy: c.updatedBy } }];
}

function erase(c: ErasePersonalData, s: PersonState): PersonEvent[] {
  mustBeRegistered(s);
  return [{ type: 'PersonalDataErased', data: { requestedBy: c.requestedBy, reason: c.reason } }];
}

export function decide(command: PersonCommand, state: PersonState): PersonEvent[] {
  switch (command.type) {
    case 'RegisterPerson':
      return register(command, state);
    case 'GiveConsent':
      return giveConsent(command, state);
    case 'WithdrawConsent':
      return withdrawConsent(command, state);
    case 'UpdateContactDetails':
      return updateContactDetails(command, state);
    case 'ErasePersonalData':
      return erase(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: PersonState, event: PersonEvent & { id?: string }): PersonState {
  switch (event.type) {
    case 'PersonRegistered':
      return { ...state, status: 'registered', personId: event.data.personId };
    case 'ConsentGiven':
      return { ...state, consents: { ...state.consents, [event.data.scope]: { active: true, eventId: event.id ?? null } } };
    case 'ConsentWithdrawn':
      return { ...state, consents: { ...state.consents, [event.data.scope]: { active: false, eventId: event.id ?? null } } };
    case 'ContactDetailsUpdated':
      return state;
    case 'PersonalDataErased':
      return {
        ...state,
        status: 'erased',
        consents: { assessment: { active: false, eventId: null }, referral_sharing: { active: false, eventId: null } },
      };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const personDecider: Decider<PersonCommand, PersonEvent, PersonState> = {
  initialState: initialPersonState,
  evolve,
  decide,
};

export const personStream = (personId: string): string => `person-${personId}`;
