import { describe, expect, it } from 'vitest';
import { NotFoundError } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import {
  DuplicateFiscalCode,
  InvalidFiscalCode,
  PersonAlreadyRegistered,
  PersonDataErased,
  personDecider,
  type PersonEvent,
  type RegisterPerson,
} from '../src/domain/person.js';
import { fiscalCodeDecider, type FiscalCodeEvent } from '../src/domain/fiscal-code-reservation.js';
import { registerCommand, samplePii } from './fixtures.js';

const spec = deciderSpec(personDecider);
const pii = samplePii;
const personId = '6f1c2a8e-6f0b-4f5a-9c61-3d2f1e0a9b11';
const register: RegisterPerson = registerCommand(personId, { fiscalCode: 'RSSMRA85T10A562S' });
const registered: PersonEvent = {
  type: 'PersonRegistered',
  data: { personId, accessPoint: 'pistoia-centro', registeredBy: 'op-1', pii, municipality: 'Pistoia', birthYear: 1985 },
};
const consent = (scope: 'assessment' | 'referral_sharing'): PersonEvent => ({
  type: 'ConsentGiven',
  data: { scope, legalBasis: 'explicit_consent', recordedBy: 'op-1' },
});
const erased: PersonEvent = { type: 'PersonalDataErased', data: { requestedBy: 'admin-1', reason: 'data_subject_request' } };

describe('Person: when not yet registered', () => {
  it('registers with a valid fiscal code', () => spec.given([]).when(register).then([registered]));

  it('registers without a fiscal code', () => {
    const { fiscalCode: _f, ...noCode } = register;
    spec.given([]).when(noCode).then([registered]);
  });

  it('accepts the fiscal code in lower case and as an omocode', () => {
    spec.given([]).when({ ...register, fiscalCode: 'rssmra85t10a562s' }).then([registered]);
    spec.given([]).when({ ...register, fiscalCode: 'RSSMRA85T10A56NH' }).then([registered]);
  });

  it.each([
    ['format', 'RSSMRA85T10A562'],
    ['month', 'RSSMRA85K10A562S'],
    ['day', 'RSSMRA85T32A562S'],
    ['omocodia', 'RSSMRA85T1OA562S'],
    ['check_character', 'RSSMRA85T10A562X'],
  ])('refuses a fiscal code with a wrong %s', (kind, code) => {
    const err = spec.given([]).when({ ...register, fiscalCode: code }).thenThrows(InvalidFiscalCode, 'fiscal_code_invalid');
    if (kind === 'format' || kind === 'month' || kind === 'day' || kind === 'omocodia' || kind === 'check_character') {
      // the error says which part is wrong
      if (err.details?.fiscalCodeError !== kind) throw new Error(`expected ${kind}, got ${String(err.details?.fiscalCodeError)}`);
    }
  });

  it('refuses a fiscal code that encodes another birth date', () =>
    spec.given([]).when({ ...register, birthDate: '1985-12-11' }).thenThrows(InvalidFiscalCode));


  it('refuses consents and updates for a person it does not know', () => {
    spec.given([]).when({ type: 'GiveConsent', scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }).thenThrows(NotFoundError);
    spec.given([]).when({ type: 'UpdateContactDetails', pii, updatedBy: 'op-1' }).thenThrows(NotFoundError);
    spec.given([]).when({ type: 'ErasePersonalData', requestedBy: 'a', reason: 'other' }).thenThrows(NotFoundError);
  });
});

describe('Person: when registered', () => {
  it('refuses a second registration of the same person', () =>
    spec.given([registered]).when(register).thenThrows(PersonAlreadyRegistered));

  it('records a consent per scope', () => {
    spec
      .given([registered])
      .when({ type: 'GiveConsent', scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1' })
      .then([consent('referral_sharing')]);
  });

  it('changes nothing when the consent is already active', () =>
    spec
      .given([registered, consent('assessment')])
      .when({ type: 'GiveConsent', scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-2' })
      .thenNothing());

  it('withdraws an active consent at any time', () =>
    spec
      .given([registered, consent('assessment'), consent('referral_sharing')])
      .when({ type: 'WithdrawConsent', scope: 'referral_sharing', recordedBy: 'op-1' })
      .then([{ type: 'ConsentWithdrawn', data: { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1' } }]));

  it('a withdrawal names the consent it ends', () => {
    const given = { ...consent('referral_sharing'), id: '12121212-1212-4121-8121-121212121212' } as unknown as PersonEvent;
    spec
      .given([registered, given])
      .when({ type: 'WithdrawConsent', scope: 'referral_sharing', recordedBy: 'op-1' })
      .then([
        {
          type: 'ConsentWithdrawn',
          data: { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'op-1', consentEventId: '12121212-1212-4121-8121-121212121212' },
        },
      ]);
  });

  it('withdrawing a consent that is not active records nothing (the outcome holds)', () =>
    spec.given([registered, consent('assessment')]).when({ type: 'WithdrawConsent', scope: 'referral_sharing', recordedBy: 'op-1' }).thenNothing());

  it('updates contact details', () =>
    spec.given([registered]).when({ type: 'UpdateContactDetails', pii, updatedBy: 'op-1' }).then([{ type: 'ContactDetailsUpdated', data: { pii, updatedBy: 'op-1' } }]));

  it('erases the personal data', () =>
    spec.given([registered]).when({ type: 'ErasePersonalData', requestedBy: 'admin-1', reason: 'data_subject_request' }).then([erased]));

  it('tracks which event gave the active consent', () => {
    const { state } = spec.given([registered, { ...consent('referral_sharing'), id: 'ev-7' } as unknown as PersonEvent]);
    if (state.consents.referral_sharing.eventId !== 'ev-7' || !state.consents.referral_sharing.active) throw new Error('consent not tracked');
  });
});

describe('Person: when erased', () => {
  const history = [registered, consent('assessment'), erased];

  it('has no active consent left', () => {
    const { state } = spec.given(history);
    if (state.consents.assessment.active || state.status !== 'erased') throw new Error('consents survive erasure');
  });

  it('refuses every further change', () => {
    spec.given(history).when({ type: 'GiveConsent', scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }).thenThrows(PersonDataErased);
    spec.given(history).when({ type: 'UpdateContactDetails', pii, updatedBy: 'op-1' }).thenThrows(PersonDataErased);
    spec.given(history).when({ type: 'ErasePersonalData', requestedBy: 'a', reason: 'other' }).thenThrows(PersonDataErased);
    spec.given(history).when(register).thenThrows(PersonAlreadyRegistered);
  });
});

// ── Fiscal-code reservation: stream fiscalcode-<blind index> ───────────────
const reservation = deciderSpec(fiscalCodeDecider);
const holder = 'a7a6b5c4-0000-4000-8000-000000000001';
const newcomer = 'b8b7c6d5-0000-4000-8000-000000000002';
const reserved = (personId: string): FiscalCodeEvent => ({ type: 'FiscalCodeReserved', data: { personId } });

describe('Fiscal code: when nobody holds it', () => {
  it('a registration reserves it', () =>
    reservation.given([]).when({ type: 'ReserveFiscalCode', personId: newcomer, holderErased: false }).then([reserved(newcomer)]));
});

describe('Fiscal code: when a registered person holds it', () => {
  it('refuses a second registration and names the existing person', () => {
    const err = reservation
      .given([reserved(holder)])
      .when({ type: 'ReserveFiscalCode', personId: newcomer, holderErased: false })
      .thenThrows(DuplicateFiscalCode, 'duplicate_fiscal_code');
    expect(err.details).toEqual({ existingPersonId: holder });
  });
  it('reserving it again for its holder changes nothing (a retried registration)', () =>
    reservation.given([reserved(holder)]).when({ type: 'ReserveFiscalCode', personId: holder, holderErased: false }).thenNothing());
  it("the erasure of the holder's data releases it", () =>
    reservation
      .given([reserved(holder)])
      .when({ type: 'ReleaseFiscalCode', personId: holder })
      .then([{ type: 'FiscalCodeReleased', data: { personId: holder, reason: 'personal_data_erased' } }]));
  it('a release for someone else changes nothing', () =>
    reservation.given([reserved(holder)]).when({ type: 'ReleaseFiscalCode', personId: newcomer }).thenNothing());
});

describe('Fiscal code: when its holder was erased', () => {
  it('a new registration takes over a reservation an erasure left behind', () =>
    reservation.given([reserved(holder)]).when({ type: 'ReserveFiscalCode', personId: newcomer, holderErased: true }).then([reserved(newcomer)]));
  it('a released fiscal code can be reserved again', () =>
    reservation
      .given([reserved(holder), { type: 'FiscalCodeReleased', data: { personId: holder, reason: 'personal_data_erased' } }])
      .when({ type: 'ReserveFiscalCode', personId: newcomer, holderErased: false })
      .then([reserved(newcomer)]));
});
