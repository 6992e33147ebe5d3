import type { Encrypted } from '@onestop/events';
import { computeCheckCharacter } from '../src/domain/fiscal-code.js';
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

/** A valid fiscal code for a woman born on the given date in Pistoia (G713). */
export function womanCode(letters: string, date: string): string {
  const [y, m, d] = date.split('-');
  const first15 = `${letters}${y!.slice(2)}${'ABCDEHLMPRST'[Number(m) - 1]}${Number(d) + 40}G713`;
  return first15 + computeCheckCharacter(first15);
}
