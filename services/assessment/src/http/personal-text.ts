import type { Encrypted } from '@onestop/events';
import { PersonDataErased as KeyDestroyed, type ServiceContext } from '@onestop/kit';
import { PersonDataErased } from '../domain/assessment.js';

/**
 * Encrypts free text about a person with the person's key. An erased person
 * has no key left: nothing personal can be recorded for them (422).
 */
export async function encryptFor(keyring: ServiceContext['keyring'], personId: string, text: string): Promise<Encrypted> {
  try {
    return await keyring.encrypt(personId, text);
  } catch (e) {
    if (e instanceof KeyDestroyed) throw new PersonDataErased(personId);
    throw e;
  }
}

/** Today in the network's time zone: a target or review date is a calendar day in Tuscany, not in UTC. */
export function localDate(now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Rome', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** The last instant of a calendar day in Tuscany (a date in `?asOf=` means "at the end of that day"). */
export function endOfLocalDay(date: string): Date {
  const next = new Date(`${date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  // Rome is UTC+1 or UTC+2: take the offset it has at that midnight
  const offset = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Rome', timeZoneName: 'shortOffset' })
    .formatToParts(next)
    .find((p) => p.type === 'timeZoneName')!
    .value.replace('GMT', '');
  const hours = Number(offset || '0');
  return new Date(next.getTime() - hours * 3_600_000 - 1);
}
