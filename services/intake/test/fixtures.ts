import type { Encrypted } from '@onestop/events';
import type { RegisterPerson } from '../src/domain/person.js';

/** A stand-in for a person's ciphertext: the deciders never open it. */
export const samplePii: Encrypted = { alg: 'A256GCM', kid: 'p-1', iv: 'aXY=', ct: 'Y3Q=', tag: 'dGFn' };

/** The command that registers `personId` at the Pistoia access point. */
export function registerCommand(personId: string, more: Partial<RegisterPerson> = {}): RegisterPerson {
  return {
    type: 'RegisterPerson',
    personId,
    accessPoint: 'pistoia-centro',
    registeredBy: 'op-1',
    municipality: 'Pistoia',
    birthDate: '1985-12-10',
    familyName: 'Rossi',
    givenName: 'Mario',
    today: '2026-11-26',
    pii: samplePii,
    ...more,
  };
}
