import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@onestop/testkit';
import { BELFIORE_CODES, BELFIORE_SOURCE } from '../src/domain/belfiore-codes.js';
import { checkNameLetters, givenNameCode, surnameCode } from '../src/domain/fiscal-code-names.js';
import { computeCheckCharacter } from '../src/domain/fiscal-code.js';
import { FiscalCodeMismatch, ImplausibleBirthDate, personDecider, type PersonEvent } from '../src/domain/person.js';
// @ts-expect-error: a plain .mjs script without types (it regenerates belfiore-codes.ts)
import { codesOfPackage } from '../scripts/belfiore-codes.mjs';
import { registerCommand, samplePii } from './fixtures.js';

// Data quality at registration (DESIGN §4 "Intake", issue 17): a plausible
// birth date, and a fiscal code whose name letters and place code agree with
// the person, unless the operator records a real exception.

const spec = deciderSpec(personDecider);
const personId = '0d5c3f7e-2a4b-4c1d-8e9f-1a2b3c4d5e6f';
/** A valid fiscal code: these six letters, born 10 December 1985 (a man), at `place`. */
const codeOf = (letters: string, place = 'G713') => {
  const first15 = `${letters}85T10${place}`;
  return first15 + computeCheckCharacter(first15);
};
const registered = (extra: Partial<Extract<PersonEvent, { type: 'PersonRegistered' }>['data']> = {}): PersonEvent => ({
  type: 'PersonRegistered',
  data: { personId, accessPoint: 'pistoia-centro', registeredBy: 'op-1', pii: samplePii, municipality: 'Pistoia', birthYear: 1985, ...extra },
});

describe('Person: the birth date', () => {
  it('is refused in the future', () =>
    spec.given([]).when(registerCommand(personId, { birthDate: '2030-01-01', today: '2026-11-26' })).thenThrows(ImplausibleBirthDate, 'birth_date_implausible'));

  it('is refused tomorrow, accepted today', () => {
    spec.given([]).when(registerCommand(personId, { birthDate: '2026-11-27', today: '2026-11-26' })).thenThrows(ImplausibleBirthDate);
    spec.given([]).when(registerCommand(personId, { birthDate: '2026-11-26', today: '2026-11-26' })).then([registered({ birthYear: 2026 })]);
  });

  it('is refused more than 120 years back, accepted at exactly 120', () => {
    spec.given([]).when(registerCommand(personId, { birthDate: '1906-11-25', today: '2026-11-26' })).thenThrows(ImplausibleBirthDate);
    spec.given([]).when(registerCommand(personId, { birthDate: '1906-11-26', today: '2026-11-26' })).then([registered({ birthYear: 1906 })]);
  });
});

describe('Person: the fiscal code against the names', () => {
  it('registers when its letters are those of the names (Rossi Mario → RSSMRA)', () =>
    spec.given([]).when(registerCommand(personId, { fiscalCode: codeOf('RSSMRA') })).then([registered()]));

  it("refuses someone else's letters, naming the letters the names give", () => {
    const err = spec.given([]).when(registerCommand(personId, { fiscalCode: codeOf('BNCLCU') })).thenThrows(FiscalCodeMismatch, 'fiscal_code_mismatch');
    expect(err.message).toContain('RSSMRA');
    expect(err.details).toMatchObject({ check: 'names' });
  });

  it('accepts an omocode: omocodia changes digits only, never the letters', () => {
    const code = codeOf('RSSMRA');
    // the last digit position (15th character) substituted by its omocodia letter
    const first15 = `${code.slice(0, 14)}${'LMNPQRSTUV'[Number(code[14])]}`;
    spec.given([]).when(registerCommand(personId, { fiscalCode: first15 + computeCheckCharacter(first15) })).then([registered()]);
  });

  it('registers a mismatch only with an override, which the event records with the check it set aside', () => {
    spec
      .given([])
      .when(registerCommand(personId, { fiscalCode: codeOf('BNCLCU'), fiscalCodeOverride: { reason: 'name_changed' } }))
      .then([registered({ fiscalCodeOverride: { reason: 'name_changed', checks: ['names'] } })]);
  });

  it('records no override that set nothing aside', () =>
    spec.given([]).when(registerCommand(personId, { fiscalCode: codeOf('RSSMRA'), fiscalCodeOverride: { reason: 'other' } })).then([registered()]));

  it('cannot check names in another script: their Latin transliteration decides, so they are not refused', () =>
    spec.given([]).when(registerCommand(personId, { familyName: 'Иванов', givenName: 'Иван', fiscalCode: codeOf('VNVVNI') })).then([registered()]));
});

describe('Person: the fiscal code against the places', () => {
  it('registers an Italian municipality (Pistoia G713), a former one (A562) and a foreign state (Romania Z129)', () => {
    for (const place of ['G713', 'A562', 'Z129']) spec.given([]).when(registerCommand(personId, { fiscalCode: codeOf('RSSMRA', place) })).then([registered()]);
  });

  it('refuses a place code that is neither, unless overridden', () => {
    const err = spec.given([]).when(registerCommand(personId, { fiscalCode: codeOf('RSSMRA', 'Z998') })).thenThrows(FiscalCodeMismatch);
    expect(err.details).toMatchObject({ check: 'place' });
    expect(err.message).toContain('Z998');
    spec
      .given([])
      .when(registerCommand(personId, { fiscalCode: codeOf('RSSMRA', 'Z998'), fiscalCodeOverride: { reason: 'assigned_by_agency' } }))
      .then([registered({ fiscalCodeOverride: { reason: 'assigned_by_agency', checks: ['place'] } })]);
  });
});

describe('Fiscal code letters of names', () => {
  it.each([
    ['Rossi', 'RSS'],
    ['De Luca', 'DLC'],
    ["D'Angelo", 'DNG'],
    ['El Amrani', 'LMR'],
    ['Fo', 'FOX'],
    ['Ai', 'AIX'],
    ['Müller', 'MLL'],
    ['Strauß', 'STR'],
    ['Øberg', 'BRG'],
    ['Niccolò', 'NCC'],
  ])('surname %s → %s', (name, code) => expect(surnameCode(name)).toBe(code));

  it.each([
    ['Mario', 'MRA'],
    ['Gianfranco', 'GFR'],
    ['Maria Luisa', 'MLS'],
    ['Łukasz', 'LSZ'],
    ['Aisha', 'SHA'],
    ['Ion', 'NIO'],
    ['Eva', 'VEA'],
    ['Al', 'LAX'],
  ])('given name %s → %s', (name, code) => expect(givenNameCode(name)).toBe(code));

  it('says when a name cannot be checked (another script)', () => expect(checkNameLetters('XXXXXX85T10G713X', 'Иванов', 'Иван')).toEqual({ result: 'not_checkable' }));
});

describe('The list of places', () => {
  it(`is the one ${BELFIORE_SOURCE} ships (run services/intake/scripts/belfiore-codes.mjs after updating it)`, () => {
    const codes = (codesOfPackage as () => string[])();
    expect(BELFIORE_CODES).toBe(codes.join(''));
    expect(codes.length).toBeGreaterThan(10_000);
    expect(codes.filter((c) => c.startsWith('Z')).length).toBeGreaterThan(250);
  });
});
